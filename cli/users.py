"""`gptu users …` and `gptu groups …`: accounts managed on the server's own database."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated

import typer
from sqlalchemy import select
from sqlalchemy.orm import Session

from core import accounts
from core.db import ApiKey, Database, Group, User
from core.errors import GptuError
from core.settings import Settings
from core.signin import create_link, set_disabled, set_password

users_cli = typer.Typer(help="Users, their groups and API keys (acts on the database directly).")
groups_cli = typer.Typer(help="Groups that collections grant reading and writing to.")
ACTOR = "cli"


def database() -> Database:
    """The database the server uses (GPTU_DATABASE_URL or SQLite in GPTU_DATA_DIR)."""
    settings = Settings()
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    return Database(settings.sqlalchemy_url)


@contextmanager
def changing() -> Iterator[Session]:
    """A committed session on the server's database; an account error prints and exits 1."""
    try:
        with database().session() as session:
            yield session
    except GptuError as exc:
        typer.echo(f"error: {exc.message}", err=True)
        raise typer.Exit(1) from None


@users_cli.command("add")
def add_user(
    name: str,
    email: Annotated[str | None, typer.Option(help="E-mail (links Slack users).")] = None,
    group: Annotated[list[str] | None, typer.Option("--group", "-g", help="A group.")] = None,
    admin: Annotated[bool, typer.Option(help="May manage users and see everything.")] = False,
) -> None:
    """Add a user; print nothing secret (make a key with `gptu users key NAME`)."""
    with changing() as session:
        accounts.create_user(session, ACTOR, name, email, group or [], admin)
    typer.echo(f"added user {name}")


@users_cli.command("key")
def new_key(
    name: str,
    days: Annotated[
        float | None, typer.Option(help="Valid for this many days (default: until revoked).")
    ] = None,
) -> None:
    """Print a new API key for the user (shown only now)."""
    if days is not None and days <= 0:
        raise typer.BadParameter("--days must be more than 0")
    with changing() as session:
        user = accounts.find_user(session, name)
        key_id, key = accounts.issue_key(session, ACTOR, user, days=days)
    until = f", valid for {days:g} days" if days is not None else ""
    typer.echo(f"key id {key_id} for {name}{until}:\n{key}")


@users_cli.command("revoke")
def revoke(key_id: str) -> None:
    """Revoke an API key by its id; it stops working at once."""
    with changing() as session:
        accounts.revoke_key(session, ACTOR, key_id)
    typer.echo(f"revoked {key_id}")


@users_cli.command("remove")
def remove(name: str) -> None:
    """Delete a user and their keys."""
    with changing() as session:
        accounts.delete_user(session, ACTOR, name)
    typer.echo(f"removed user {name}")


@users_cli.command("set")
def set_user(
    name: str,
    email: Annotated[str | None, typer.Option(help="New e-mail.")] = None,
    group: Annotated[list[str] | None, typer.Option("--group", "-g", help="Groups.")] = None,
    collection: Annotated[
        str | None, typer.Option(help="Default collection for Slack file shares.")
    ] = None,
    sso: Annotated[
        str | None,
        typer.Option(help="Who they are at the identity provider: '<issuer> <sub>'."),
    ] = None,
) -> None:
    """Change a user's e-mail, groups (replaces them), default collection or SSO subject."""
    changes = {"email": email, "groups": group, "default_collection": collection,
               "sso_subject": sso}  # fmt: skip
    given = {k: v for k, v in changes.items() if v is not None}
    with changing() as session:
        accounts.change_user(session, ACTOR, name, **given)
    typer.echo(f"updated {name}: {', '.join(given) or 'nothing'}")


@users_cli.command("link")
def link(name: str, slack: Annotated[str, typer.Option(help="Slack member id (U…).")]) -> None:
    """Link a Slack member to the user, when their Slack e-mail differs from gptu's."""
    with changing() as session:
        accounts.change_user(session, ACTOR, name, slack_id=slack)
    typer.echo(f"linked Slack {slack} to {name}")


@users_cli.command("invite")
def invite(name: str) -> None:
    """Print a one-time link for the user to choose a web password (an earlier unused link
    of theirs stops working)."""
    settings = Settings()
    with changing() as session:
        user = accounts.find_user(session, name)
        token, ends = create_link(session, user, ACTOR, settings.sign_in_link_hours)
    typer.echo(f"one-time link for {name}, valid until {ends:%Y-%m-%d %H:%M} UTC:\n"
               f"{settings.web_url}/welcome#{token}")  # fmt: skip


@users_cli.command("password")
def password(name: str) -> None:
    """Set the user's web password (asked twice, not shown); their sessions end."""
    chosen = typer.prompt(f"password for {name}", hide_input=True, confirmation_prompt=True)
    with changing() as session:
        set_password(session, accounts.find_user(session, name), chosen, ACTOR)
    typer.echo(f"password set for {name}")


@users_cli.command("disable")
def disable(name: str) -> None:
    """Disable a user: their sessions and API keys stop at once (`enable` undoes it)."""
    with changing() as session:
        set_disabled(session, accounts.find_user(session, name), True, ACTOR)
    typer.echo(f"disabled {name}")


@users_cli.command("enable")
def enable(name: str) -> None:
    """Let a disabled user sign in again (their old sessions stay ended)."""
    with changing() as session:
        set_disabled(session, accounts.find_user(session, name), False, ACTOR)
    typer.echo(f"enabled {name}")


@users_cli.command("list")
def list_users() -> None:
    """Users with their groups and live keys."""
    with database().session() as session:
        for user in session.scalars(select(User).order_by(User.name)):
            keys = session.scalars(
                select(ApiKey).where(ApiKey.user_id == user.id, ApiKey.revoked_at.is_(None))
            ).all()
            groups = ",".join(sorted(g.name for g in user.groups)) or "-"
            role = "admin" if user.admin else "user"
            live = " ".join(f"{k.id}({k.prefix})" for k in keys) or "-"
            typer.echo(f"{user.name:20} {role:5} {user.email or '-':28} {groups:24} keys: {live}")


@groups_cli.command("add")
def add_group(name: str) -> None:
    """Add a group."""
    with changing() as session:
        accounts.create_group(session, ACTOR, name)
    typer.echo(f"added group {name}")


@groups_cli.command("remove")
def remove_group(name: str) -> None:
    """Delete a group and every grant made to it."""
    with changing() as session:
        accounts.delete_group(session, ACTOR, name)
    typer.echo(f"removed group {name}")


@groups_cli.command("list")
def list_groups() -> None:
    """Groups and their members."""
    with database().session() as session:
        users = session.scalars(select(User)).all()
        for group in session.scalars(select(Group).order_by(Group.name)):
            members = sorted(u.name for u in users if group in u.groups)
            typer.echo(f"{group.name:24} {', '.join(members) or '-'}")
