"""Request and response bodies of the accounts, audit, feedback and trace endpoints."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, BeforeValidator, Field
from pydantic.json_schema import JsonDict, SkipJsonSchema

from api.schemas import aware
from core.db import ApiKey


class UserIn(BaseModel):
    """A user to create."""

    name: str = Field(description="Lower-case letters, digits, _ . - (max 64).")
    email: str | None = Field(None, max_length=320)
    groups: list[str] = Field(default_factory=list, max_length=100)
    admin: bool = False


def given(value: object) -> object:
    """A field that has no empty value: null is refused, not read as 'none' or 'false'."""
    if value is None:
        raise ValueError("may not be null; leave it out to keep it as it is")
    return value


def no_default(schema: JsonDict) -> None:
    """An absent field of a change is no change: the schema shows no default value."""
    schema.pop("default", None)


class UserChangeIn(BaseModel):
    """Fields of a user to change; absent ones stay. `null` clears the e-mail, the Slack link
    and the default collection; `groups` and `admin` have no empty value and refuse it (422)."""

    email: str | None = Field(None, max_length=320)
    groups: Annotated[
        Annotated[list[str], Field(max_length=100)] | SkipJsonSchema[None], BeforeValidator(given)
    ] = Field(None, json_schema_extra=no_default)
    admin: Annotated[bool | SkipJsonSchema[None], BeforeValidator(given)] = Field(
        None, json_schema_extra=no_default
    )
    slack_id: str | None = Field(None, max_length=32, description="Slack member id (U…).")
    default_collection: str | None = Field(None, description="Where Slack file shares go.")
    sso_subject: str | None = Field(
        None,
        max_length=512,
        description="Who this user is at the identity provider: `<issuer> <sub>` (their "
        "refusal page's log line names it); null unlinks.",
    )
    disabled: Annotated[bool | SkipJsonSchema[None], BeforeValidator(given)] = Field(
        None,
        json_schema_extra=no_default,
        description="true: the user's sessions and API keys stop at once; false: enabled again.",
    )


class UserOut(BaseModel):
    """A user as admins see it."""

    name: str
    email: str | None
    admin: bool
    groups: list[str]
    slack_id: str | None
    default_collection: str | None
    created_at: datetime
    keys: int = Field(description="How many of the user's API keys work now.")
    password: bool = Field(False, description="Whether the user has a web password.")
    sso: bool = Field(False, description="Whether the user signs in by single sign-on.")
    disabled: bool = False


class MeOut(BaseModel):
    """The caller: name, admin flag and every group that grants access."""

    name: str
    admin: bool
    groups: list[str]


class KeyOut(BaseModel):
    """An API key's record; `key` is shown only when it is created."""

    id: str
    user: str
    prefix: str
    created_at: datetime
    revoked_at: datetime | None
    expires_at: datetime | None = Field(None, description="After this the key stops working.")
    key: str | None = None


class KeyIn(BaseModel):
    """Options of a new API key."""

    expires_in_days: float | None = Field(
        None, gt=0, le=3650, description="Valid for this many days; default: until revoked."
    )


class GroupIn(BaseModel):
    """A group to create."""

    name: str


class GroupOut(BaseModel):
    """A group and its members."""

    name: str
    members: list[str]
    created_at: datetime


class AuditOut(BaseModel):
    """One audit log entry."""

    id: int
    at: datetime
    actor: str
    action: str
    target: str
    detail: dict[str, object]


class FeedbackIn(BaseModel):
    """A rating of one of your answers."""

    trace_id: str = Field(min_length=1, max_length=64)
    rating: Literal[1, -1]
    comment: str | None = Field(None, max_length=4000)


class FeedbackOut(BaseModel):
    """Stored feedback."""

    id: str
    trace_id: str
    rating: int


class TraceOut(BaseModel):
    """Why an answer came out as it did: retrieval, prompt, model, timings, feedback."""

    id: str
    request_id: str | None
    user: str
    surface: str
    question: str
    search_query: str
    withheld: bool = Field(
        False,
        description="Passages you may no longer read were left out, and so was the answer.",
    )
    collections: list[str]
    passages: list[dict[str, object]]
    prompt_tokens: int
    answer_tokens: int
    model: str
    variant: str | None
    grounded: bool
    answer: str
    citations: list[int]
    checks: dict[str, object]
    first_token_ms: float | None
    total_ms: float | None
    tokens_per_s: float | None
    rating: int | None
    comment: str | None
    created_at: datetime


class PasswordSignIn(BaseModel):
    """A name and password, to sign a page in."""

    name: str = Field(max_length=64)
    password: str = Field(max_length=1024)


class SessionOut(BaseModel):
    """A signed-in page's session: who, how, until when, and the CSRF token that every
    change it makes must carry in `X-CSRF-Token`."""

    name: str
    admin: bool
    groups: list[str]
    method: str
    csrf: str
    expires_at: datetime


class PasswordIn(BaseModel):
    """A new password (10 to 1024 characters)."""

    password: str = Field(max_length=1024)


class LinkOut(BaseModel):
    """A one-time link to set a password; give it to the person (shown once)."""

    url: str
    expires_at: datetime


class LinkRedeemIn(BaseModel):
    """The token of a one-time link, and the password its person chose."""

    token: str = Field(max_length=128)
    password: str = Field(max_length=1024)


class ProvidersOut(BaseModel):
    """How people may sign in here: with a password, and with single sign-on when set up
    (its button's label and where it starts)."""

    password: bool
    sso_label: str | None
    sso_url: str | None


class MyKeyIn(BaseModel):
    """A key a person makes for their own programs: it always expires."""

    expires_in_days: float = Field(90, gt=0, le=365, description="Valid for this many days.")


class SessionRowOut(BaseModel):
    """One of the caller's signed-in browsers."""

    id: str
    method: str
    created_at: datetime
    seen_at: datetime
    expires_at: datetime
    address: str | None
    agent: str | None
    current: bool = Field(description="Whether this is the session the request came with.")


def key_out(key: ApiKey, user: str, shown: str | None = None) -> KeyOut:
    """A key row as the API shows it."""
    revoked = aware(key.revoked_at) if key.revoked_at else None
    expires = aware(key.expires_at) if key.expires_at else None
    return KeyOut(id=key.id, user=user, prefix=key.prefix, created_at=aware(key.created_at),
                  revoked_at=revoked, expires_at=expires, key=shown)  # fmt: skip
