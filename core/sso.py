"""Single sign-on, the part that lives in the database: the pending sign-ins (state, nonce and
PKCE verifier, kept by the sha256 of the state) and the person an ID token's claims stand for.

A person signed in by SSO is `<issuer> <sub>` (users.sso_subject), never a name: a gptu user
of the same name is not taken over. The HTTP side (discovery, code exchange, ID-token checks)
is app.sso.
"""

from __future__ import annotations

import base64
import hashlib
import logging
import re
import secrets
import unicodedata
from dataclasses import dataclass
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from core.accounts import EVERYONE, NAME, audit, create_group, normal_email
from core.db import Group, SsoLogin, User, utcnow
from core.errors import GptuError, InvalidRequest, PermissionDenied, Unauthorized
from core.signin import aware, token_id

log = logging.getLogger(__name__)
PENDING = timedelta(minutes=10)  # from the click on the SSO button to the callback
ACTOR = "sso"  # who the audit log says made a user or group on a first sign-in
RETURN_MAX = 200  # sso_logins.return_to
UNFIT = re.compile(r"[^a-z0-9_.-]+")


class IdentityProviderError(GptuError):
    """The identity provider did not answer, or its answer did not check out."""

    status = 502
    code = "identity_provider_error"


@dataclass(frozen=True)
class Pending:
    """A sign-in on its way through the provider: what the callback checks its answer with."""

    state: str
    nonce: str
    verifier: str
    return_to: str

    @property
    def challenge(self) -> str:
        """The PKCE S256 challenge of the verifier."""
        digest = hashlib.sha256(self.verifier.encode("ascii")).digest()
        return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def same_origin_path(target: str | None) -> str:
    """Where to go after signing in: a path on this server (`/admin?x=1`), else `/`."""
    if not target or len(target) > RETURN_MAX or not target.startswith("/"):
        return "/"
    parts = urlsplit(target)
    # `//host` and `/\host` leave the site in browsers; control characters have no place here
    unsafe = target.startswith("//") or "\\" in target or any(ord(c) < 0x21 for c in target)
    return "/" if unsafe or parts.scheme or parts.netloc else target


def begin(session: Session, return_to: str | None) -> Pending:
    """Record a new sign-in (its state stored as a sha256); abandoned ones are dropped."""
    session.execute(delete(SsoLogin).where(SsoLogin.created_at < utcnow() - PENDING))
    pending = Pending(secrets.token_urlsafe(32), secrets.token_urlsafe(32),
                      secrets.token_urlsafe(48), same_origin_path(return_to))  # fmt: skip
    session.add(SsoLogin(id=token_id(pending.state), nonce=pending.nonce,
                         verifier=pending.verifier, return_to=pending.return_to))  # fmt: skip
    return pending


def take(session: Session, state: str) -> Pending:
    """The pending sign-in of a state, removed so that it can be used once (of two callbacks
    racing with one state, one wins); 401 when it is unknown, used, or over ten minutes old."""
    row = session.get(SsoLogin, token_id(state))
    pending = Pending(state, row.nonce, row.verifier, row.return_to) if row is not None else None
    fresh = row is not None and aware(row.created_at) > utcnow() - PENDING
    gone = session.execute(delete(SsoLogin).where(SsoLogin.id == token_id(state)))
    removed = gone.rowcount  # type: ignore[attr-defined]
    session.commit()
    if pending is None or not fresh or removed != 1:
        raise Unauthorized("this sign-in was used already or took too long: start it again")
    return pending


def subject_of(issuer: str, claims: dict[str, Any]) -> str:
    """Who an ID token stands for, for good: its issuer and `sub`."""
    return f"{issuer} {claims['sub']}"


def person_for(
    session: Session, claims: dict[str, Any], issuer: str, create_users: bool, groups_claim: str
) -> User:
    """The user of checked ID-token claims, made on a first sign-in when `create_users`;
    their groups follow the `groups_claim` when the token carries it. 403 for a person gptu
    does not know (when it may not create them) and for a disabled user."""
    subject = subject_of(issuer, claims)
    user = session.scalar(select(User).where(User.sso_subject == subject))
    if user is None and not create_users:
        log.warning("sso: refused %r, who has no gptu account", subject)
        raise PermissionDenied(
            "you have no account here yet: ask an admin to let you in, then sign in again"
        )
    if user is None:
        user = new_person(session, claims, subject)
    if user.disabled_at is not None:
        log.warning("sso: refused %r (user %s), who is disabled", subject, user.name)
        raise PermissionDenied("this account is disabled: ask an admin")
    if groups_claim and groups_claim in claims:
        follow_groups(session, user, claimed_groups(claims[groups_claim]))
    if user.email is None:
        link_email(session, user, claims)
    return user


def verified_email(claims: dict[str, Any]) -> str | None:
    """The token's e-mail address unless the provider says it is not verified."""
    if str(claims.get("email_verified", True)).lower() == "false":
        return None
    email = claims.get("email")
    try:
        return normal_email(email) if isinstance(email, str) else None
    except InvalidRequest:
        return None


def link_email(session: Session, user: User, claims: dict[str, Any]) -> None:
    """Give the user the token's verified address, which links their Slack account, unless
    another user has it already."""
    email = verified_email(claims)
    if email is None:
        return
    taken = session.scalar(select(User.id).where(User.email == email))
    if taken is not None and taken != user.id:
        log.warning("sso: %s's address %s belongs to another user; not stored", user.name, email)
        return
    user.email = email
    audit(session, ACTOR, "user.update", user.name, email=email)


def new_person(session: Session, claims: dict[str, Any], subject: str) -> User:
    """A user for a first sign-in, named after the person's username or address."""
    name = free_name(session, claims)
    user = User(name=name, sso_subject=subject)
    session.add(user)
    audit(session, ACTOR, "user.create", name, sso_subject=subject)
    session.flush()
    return user


def fit_name(text: str) -> str:
    """Text made into a gptu name (lower-case letters, digits, _ . -), possibly empty."""
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return UNFIT.sub("-", ascii_text.lower()).lstrip("_.-")[:64].rstrip("-")


def free_name(session: Session, claims: dict[str, Any]) -> str:
    """A name nobody has: preferred_username, else the address's local part, else `user`,
    with -2, -3, ... added when taken."""
    wanted = [claims.get("preferred_username"), str(claims.get("email") or "").split("@")[0]]
    base = next((fit_name(w) for w in wanted if isinstance(w, str) and fit_name(w)), "user")
    taken = set(session.scalars(select(User.name).where(User.name.like(f"{base[:56]}%"))))
    name, n = base, 1
    while name in taken:
        n += 1
        name = f"{base[: 63 - len(str(n))]}-{n}"
    return name


def claimed_groups(value: object) -> list[str]:
    """The gptu group names a groups claim (a list, or one name) stands for. Names are
    made to fit gptu's rules; `everyone`, personal groups and over-long names are left out
    (a provider never grants what only gptu decides)."""
    names = [value] if isinstance(value, str) else value if isinstance(value, list) else []
    fitted = []
    for raw in names:
        name = fit_name(raw) if isinstance(raw, str) and len(raw) <= 64 else ""
        if not name or not NAME.match(name) or name == EVERYONE:
            log.info("sso: group %r from the provider is not used", raw)
            continue
        fitted.append(name)
    return sorted(set(fitted))


def follow_groups(session: Session, user: User, names: list[str]) -> None:
    """Set the user's groups to exactly these (made when missing); their personal group and
    admin flag stay. Audited when something changed."""
    before = {g.name for g in user.groups}
    if before == set(names):
        return
    groups = []
    for name in names:
        group = session.scalar(select(Group).where(Group.name == name))
        groups.append(group if group is not None else create_group(session, ACTOR, name))
    user.groups = groups
    added, removed = sorted(set(names) - before), sorted(before - set(names))
    audit(session, ACTOR, "user.groups", user.name, added=added, removed=removed)
