"""Slack channels: each thread (a question and its replies) is one Markdown document.

Each listing reads the channels' whole history (one call per 200 messages) so that deleted
threads are seen; a thread's version comes from its parent message (latest reply, edit time,
reply count), so only new and changed threads have their replies fetched.
"""

from __future__ import annotations

import html
import re
import time
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from typing import Any

import httpx
from pydantic import Field, field_validator

from sources.base import Entry, ItemError, Kind, Scan, Settings, SourceError, too_big

Message = dict[str, Any]
KEPT_SUBTYPES = {None, "thread_broadcast", "file_share"}  # joins, leaves, topics… are noise
REFUSED_TOKEN = {"invalid_auth", "not_authed", "account_inactive", "token_revoked"}
NOT_THERE = {"channel_not_found", "not_in_channel"}
INVITE = "invite the bot with /invite @gptu"
PAGE = 200


class SlackSettings(Settings):
    """Which channels to read, and where Slack's Web API is."""

    channels: list[str] = Field(
        default_factory=list,
        description="Channel names or ids; empty reads every channel the bot is a member of.",
    )
    api_url: str = Field("https://slack.com/api/", description="Slack's Web API base URL.")
    max_threads: int = Field(1000, ge=1, description="Most threads read per channel.")

    @field_validator("channels")
    @classmethod
    def bare_names(cls, values: list[str]) -> list[str]:
        """Names without their '#'."""
        return [v.strip().lstrip("#") for v in values if v.strip().lstrip("#")]


class SlackApi:
    """Slack Web API calls with the bot token: errors for people, one retry when rate limited."""

    def __init__(self, settings: SlackSettings, token: str, timeout: float) -> None:
        self.base = settings.api_url.rstrip("/") + "/"
        self.timeout = timeout
        self.client = httpx.Client(
            headers={"Authorization": f"Bearer {token}"}, timeout=timeout, trust_env=False
        )

    def __enter__(self) -> SlackApi:
        return self

    def __exit__(self, *exc: object) -> None:
        self.client.close()

    def call(self, method: str, **params: str | int) -> Message:
        """One method's answer; SourceError when Slack cannot be reached or refuses."""
        answer = self.post(method, params)
        if answer.status_code == 429:
            time.sleep(min(retry_after(answer), self.timeout))
            answer = self.post(method, params)
        if answer.status_code == 429:
            raise SourceError("Slack keeps refusing calls as too many (rate limited): try later")
        if answer.status_code != 200:
            raise SourceError(
                f"Slack's API at {self.base} answered {method} with HTTP "
                f"{answer.status_code}: check api_url"
            )
        try:
            body: Message = answer.json()
        except ValueError:
            raise SourceError(
                f"Slack's API at {self.base} answered {method} with no JSON: check api_url"
            ) from None
        if not body.get("ok"):
            error = str(body.get("error", "unknown_error"))
            if error in REFUSED_TOKEN:
                raise SourceError("Slack refused the token: check it")
            raise SlackError(method, error)
        return body

    def post(self, method: str, params: Mapping[str, str | int]) -> httpx.Response:
        """POST a form to the method; SourceError when the API cannot be reached."""
        try:
            return self.client.post(self.base + method, data=dict(params))
        except httpx.HTTPError as error:
            raise SourceError(
                f"Slack's API at {self.base} cannot be reached "
                f"({type(error).__name__}): check api_url"
            ) from None

    def pages(self, method: str, key: str, **params: str | int) -> Iterator[Message]:
        """Every item under `key` over all of a paged method's pages (cursor paging)."""
        cursor = ""
        while True:
            body = self.call(method, limit=PAGE, **params, **({"cursor": cursor} if cursor else {}))
            yield from body.get(key) or []
            cursor = (body.get("response_metadata") or {}).get("next_cursor") or ""
            if not cursor:
                return


class SlackError(SourceError):
    """Slack answered a method with ok: false (the error code is kept to decide on it)."""

    def __init__(self, method: str, error: str) -> None:
        super().__init__(f"Slack answered {method} with the error {error}")
        self.error = error


class SlackChannels:
    """Lists the threads of the chosen channels."""

    def __init__(self, settings: SlackSettings, secrets: Mapping[str, str]) -> None:
        self.settings = settings
        self.token = secrets.get("token", "")
        self.names: dict[str, str] = {}  # user id → shown name, over this connector's reads

    def entries(self, scan: Scan) -> Iterator[Entry]:
        """Every thread of every chosen channel; replies are fetched only by read()."""
        if not self.token:
            raise SourceError("no Slack bot token is set: add the xoxb- token as the secret")
        with SlackApi(self.settings, self.token, scan.timeout) as api:
            me = api.call("auth.test")
            workspace = str(me.get("url") or "https://slack.com/")
            own = {str(v) for v in (me.get("user_id"), me.get("bot_id")) if v}  # gptu's answers
            for channel in self.channels(api):
                yield from self.threads(api, channel, scan, workspace, own)

    def channels(self, api: SlackApi) -> list[Message]:
        """The chosen channels (or every one the bot is in); SourceError for one it is not in."""
        seen = list(
            api.pages(
                "conversations.list",
                "channels",
                exclude_archived="true",
                types="public_channel,private_channel",
            )
        )
        if not self.settings.channels:
            return [c for c in seen if c.get("is_member")]
        chosen = []
        for wanted in self.settings.channels:
            found = next((c for c in seen if wanted in (c.get("id"), c.get("name"))), None)
            if found is None:
                raise SourceError(
                    f"the bot sees no channel #{wanted} (a private channel shows "
                    f"only once the bot is in it): {INVITE} in #{wanted}"
                )
            if not found.get("is_member"):
                raise SourceError(f"the bot is not in #{found.get('name')}: {INVITE} there")
            chosen.append(found)
        return chosen

    def threads(
        self, api: SlackApi, channel: Message, scan: Scan, workspace: str, own: set[str]
    ) -> Iterator[Entry]:
        """The channel's threads, newest first, up to max_threads."""
        count = 0
        try:
            for message in api.pages("conversations.history", "messages", channel=channel["id"]):
                if not is_thread(message) or own & {message.get("user"), message.get("bot_id")}:
                    continue
                if count == self.settings.max_threads:
                    scan.complete = False
                    scan.notes.append(
                        f"#{channel.get('name')} has more than "
                        f"{count} threads: only the newest {count} are read"
                    )
                    return
                count += 1
                yield self.entry(channel, message, scan, workspace, own)
        except SlackError as error:
            if error.error in NOT_THERE:
                raise SourceError(f"the bot cannot read #{channel.get('name')}: {INVITE}") from None
            raise

    def entry(
        self, channel: Message, parent: Message, scan: Scan, workspace: str, own: set[str]
    ) -> Entry:
        """One thread as an entry; read() fetches its replies."""
        ts = str(parent["ts"])
        edited = (parent.get("edited") or {}).get("ts", "")
        version = f"{parent.get('latest_reply') or ts}:{edited}:{parent.get('reply_count', 0)}"
        question = plain(first_line(parent.get("text", "")), self.names)
        shown = question if len(question) <= 60 else question[:59].rstrip() + "…"
        link = f"{workspace.rstrip('/')}/archives/{channel['id']}/p{ts.replace('.', '')}"
        label = f"#{channel.get('name')}: {shown} · {link}"

        def read() -> bytes:
            with SlackApi(self.settings, self.token, scan.timeout) as api:
                messages = self.thread(api, channel["id"], parent, own)
                content = self.markdown(api, question, messages).encode()
            if len(content) > scan.max_bytes:
                raise ItemError(too_big(label, len(content), scan.max_bytes))
            return content

        return Entry(
            key=f"{channel['id']}/{ts}", version=version, label=label, parse_as=".md", read=read
        )

    def thread(self, api: SlackApi, channel: str, parent: Message, own: set[str]) -> list[Message]:
        """The thread's messages worth reading: the parent and its replies, oldest first."""
        if not parent.get("reply_count"):
            return [parent]
        try:
            messages = list(
                api.pages(
                    "conversations.replies", "messages", channel=channel, ts=str(parent["ts"])
                )
            )
        except SlackError as error:
            raise ItemError(f"the thread could not be read ({error.error})") from None
        return [
            m
            for m in messages
            if m.get("subtype") in KEPT_SUBTYPES
            and m.get("user") not in own
            and m.get("bot_id") not in own
        ]

    def markdown(self, api: SlackApi, question: str, messages: list[Message]) -> str:
        """The thread as Markdown: the question as title, then one paragraph per message."""
        paragraphs = [f"# {question or '(no text)'}"]
        for message in messages:
            who = self.name(api, str(message.get("user") or message.get("username") or "?"))
            when = datetime.fromtimestamp(float(message["ts"]), UTC).strftime("%Y-%m-%d %H:%M")
            paragraphs.append(
                f"**{who}** ({when} UTC): {plain(message.get('text', ''), self.names)}"
            )
        return "\n\n".join(paragraphs) + "\n"

    def name(self, api: SlackApi, user: str) -> str:
        """A user's shown name (users.info), else the id; remembered across reads."""
        if user not in self.names and user.startswith(("U", "W")):
            try:
                found = api.call("users.info", user=user).get("user") or {}
            except SlackError:  # no users:read scope, or a deleted user: the id will do
                found = {}
            profile = found.get("profile") or {}
            self.names[user] = str(
                profile.get("display_name")
                or profile.get("real_name")
                or found.get("real_name")
                or found.get("name")
                or user
            )
        return self.names.get(user, user)


def retry_after(answer: httpx.Response) -> float:
    """The seconds a 429 answer asks to wait (1 when it does not say)."""
    try:
        return max(float(answer.headers.get("retry-after") or 1), 0.0)
    except ValueError:
        return 1.0


def is_thread(message: Message) -> bool:
    """Whether a history message starts a thread (a message without replies is a thread of
    one); broadcast replies and joins, leaves and other notices are not."""
    if message.get("subtype") not in KEPT_SUBTYPES - {"thread_broadcast"}:
        return False
    return message.get("thread_ts", message.get("ts")) == message.get("ts")


def first_line(text: str) -> str:
    """The first non-empty line."""
    return next((line.strip() for line in text.splitlines() if line.strip()), "")


def plain(text: str, names: Mapping[str, str]) -> str:
    """Slack's markup as plain text: links, mentions, channel names and escapes."""
    text = re.sub(
        r"<@([UW][A-Z0-9]+)(?:\|([^>]*))?>",
        lambda m: "@" + (m.group(2) or names.get(m.group(1), m.group(1))),
        text,
    )
    text = re.sub(r"<#[CG][A-Z0-9]+\|([^>]*)>", r"#\1", text)
    text = re.sub(r"<!(here|channel|everyone)[^>]*>", r"@\1", text)
    text = re.sub(r"<([^|<>]+)\|([^<>]+)>", r"\2 (\1)", text)
    text = re.sub(r"<([a-z]+:[^<>]+)>", r"\1", text)
    return html.unescape(text)


KIND = Kind(
    name="slack",
    summary="The threads of Slack channels the gptu bot is in, one document per thread",
    settings=SlackSettings,
    secrets=("token",),
    make=lambda settings, secrets: SlackChannels(settings, secrets),
)
