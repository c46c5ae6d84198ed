"""A local Slack Web API over an in-memory workspace: channels, threads, users, the bot.

It answers auth.test, conversations.list/history/replies, chat.getPermalink and users.info
as Slack does (HTTP 200 with ok: false for errors, cursor paging), checks the bot token, pages
history two messages at a time so that paging is always exercised, counts the calls, and can
answer 429 (rate limited) to the next calls.
"""

from __future__ import annotations

import itertools
import json
import threading
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlparse

from tests.servers import Recorder

TOKEN = "xoxb-site-0000-secret"
BOT, BOT_ID, ASKER, HELPER = "UGPTUBOT", "BGPTU", "UASKER", "UHELPER"
USERS = {ASKER: "alice", HELPER: "bob", BOT: "gptu"}
CHANNELS = {"CSUPPORT": "support", "CRANDOM": "random"}
PAGE = 2
Message = dict[str, Any]


class Workspace(Recorder):
    """Slack's Web API for one workspace whose bot is in #support but not in #random."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.clock = itertools.count(1)
        self.calls: list[tuple[str, dict[str, str]]] = []
        self.members = {"CSUPPORT"}
        self.kicked: set[str] = set()  # listed as member, yet history says not_in_channel
        self.history: dict[str, list[Message]] = {c: [] for c in CHANNELS}  # oldest first
        self.replies: dict[str, list[Message]] = {}  # parent ts → its replies, oldest first
        self.throttled = 0  # the next this many calls are answered 429
        super().__init__(WorkspaceHandler)
        self.post("CSUPPORT", {"user": BOT, "subtype": "channel_join", "text": "joined"})

    def ts(self) -> str:
        """A new message timestamp, later than every earlier one."""
        return f"{1700000000 + next(self.clock)}.000100"

    def post(self, channel: str, fields: Message) -> Message:
        """A new top-level message in channel."""
        message = {"type": "message", "ts": self.ts(), **fields}
        self.history[channel].append(message)
        return message

    def reply(self, parent: Message, user: str, text: str, **extra: Any) -> None:
        """A new reply in parent's thread; the parent's thread fields follow as in Slack."""
        ts = self.ts()
        found = self.replies.setdefault(parent["ts"], [])
        found.append(
            {
                "type": "message",
                "ts": ts,
                "thread_ts": parent["ts"],
                "user": user,
                "text": text,
                **extra,
            }
        )
        self.threaded(parent)

    def threaded(self, parent: Message) -> None:
        """Set the parent's thread_ts, reply_count and latest_reply from its replies."""
        found = self.replies.get(parent["ts"], [])
        parent.update(thread_ts=parent["ts"], reply_count=len(found))
        parent["latest_reply"] = found[-1]["ts"] if found else parent["ts"]

    def parent(self, channel: str, text: str) -> Message | None:
        """The top-level message of channel with this text."""
        return next((m for m in self.history[channel] if m.get("text") == text), None)

    def answer(self, method: str, args: dict[str, str], auth: str) -> tuple[int, Message]:
        """(HTTP status, JSON body) for one call."""
        with self.lock:
            self.calls.append((method, args))
            if self.throttled:
                self.throttled -= 1
                return 429, {"ok": False, "error": "ratelimited"}
            if not auth:
                return 200, {"ok": False, "error": "not_authed"}
            if auth != f"Bearer {TOKEN}":
                return 200, {"ok": False, "error": "invalid_auth"}
            handler = METHODS.get(method)
            if handler is None:
                return 200, {"ok": False, "error": "unknown_method"}
            return 200, handler(self, args)

    def count(self, method: str) -> int:
        """How many calls of method were made."""
        with self.lock:
            return sum(1 for name, _ in self.calls if name == method)


def auth_test(space: Workspace, args: dict[str, str]) -> Message:
    """Who the token is."""
    return {"ok": True, "url": space.url + "/", "team": "Site", "user_id": BOT, "bot_id": BOT_ID}


def conversations_list(space: Workspace, args: dict[str, str]) -> Message:
    """The public channels, with is_member for the bot."""
    channels = [
        {"id": c, "name": n, "is_channel": True, "is_member": c in space.members}
        for c, n in CHANNELS.items()
    ]
    return {"ok": True, "channels": channels, "response_metadata": {"next_cursor": ""}}


def conversations_history(space: Workspace, args: dict[str, str]) -> Message:
    """Top-level messages, newest first, PAGE at a time."""
    channel = args.get("channel", "")
    if channel not in CHANNELS:
        return {"ok": False, "error": "channel_not_found"}
    if channel not in space.members or channel in space.kicked:
        return {"ok": False, "error": "not_in_channel"}
    return paged(list(reversed(space.history[channel])), args)


def conversations_replies(space: Workspace, args: dict[str, str]) -> Message:
    """A thread: its parent, then its replies, oldest first, PAGE at a time."""
    channel, ts = args.get("channel", ""), args.get("ts", "")
    if channel not in space.members:
        return {"ok": False, "error": "not_in_channel"}
    parent = next((m for m in space.history[channel] if m["ts"] == ts), None)
    if parent is None:
        return {"ok": False, "error": "thread_not_found"}
    return paged([parent, *space.replies.get(ts, [])], args)


def get_permalink(space: Workspace, args: dict[str, str]) -> Message:
    """A message's link."""
    ts = args.get("message_ts", "").replace(".", "")
    return {"ok": True, "permalink": f"{space.url}/archives/{args.get('channel')}/p{ts}"}


def users_info(space: Workspace, args: dict[str, str]) -> Message:
    """A user's names."""
    user = args.get("user", "")
    if user not in USERS:
        return {"ok": False, "error": "user_not_found"}
    name = USERS[user]
    return {"ok": True, "user": {"id": user, "name": name, "profile": {"display_name": name}}}


def paged(messages: list[Message], args: dict[str, str]) -> Message:
    """One page of messages from the cursor on (the cursor is the offset)."""
    start = int(args.get("cursor") or 0)
    size = min(int(args.get("limit") or 100), PAGE)
    more = start + size < len(messages)
    return {
        "ok": True,
        "messages": messages[start : start + size],
        "has_more": more,
        "response_metadata": {"next_cursor": str(start + size) if more else ""},
    }


METHODS = {
    "auth.test": auth_test,
    "conversations.list": conversations_list,
    "conversations.history": conversations_history,
    "conversations.replies": conversations_replies,
    "chat.getPermalink": get_permalink,
    "users.info": users_info,
}


class WorkspaceHandler(BaseHTTPRequestHandler):
    """/api/<method> with a query string, a form or a JSON body."""

    server: Workspace

    def log_message(self, *args: Any) -> None:
        """Quiet."""

    def do_GET(self) -> None:
        """A method with its arguments in the query string."""
        self.respond(dict(parse_qsl(urlparse(self.path).query)))

    def do_POST(self) -> None:
        """A method with a form or JSON body."""
        raw = self.rfile.read(int(self.headers.get("content-length") or 0)).decode()
        if self.headers.get("content-type", "").startswith("application/json"):
            args = {k: str(v) for k, v in json.loads(raw or "{}").items()}
        else:
            args = dict(parse_qsl(raw))
        self.respond({**args, **dict(parse_qsl(urlparse(self.path).query))})

    def respond(self, args: dict[str, str]) -> None:
        """Answer the method named by the path."""
        method = urlparse(self.path).path.rsplit("/", 1)[-1]
        status, body = self.server.answer(method, args, self.headers.get("authorization", ""))
        data = json.dumps(body).encode()
        self.send_response(status)
        if status == 429:
            self.send_header("retry-after", "1")
        self.send_header("content-type", "application/json; charset=utf-8")
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


class SlackSite:
    """The site contract over a Workspace: item `name` is the #support thread "How do I name?"."""

    kind = "slack"

    def __init__(self) -> None:
        self.space = Workspace()

    def settings(self) -> dict[str, Any]:
        """The local API and channel #support."""
        return {"api_url": self.space.url + "/api/", "channels": ["support"]}

    def secrets(self) -> dict[str, str]:
        """The bot token."""
        return {"token": TOKEN}

    def write(self, name: str, text: str) -> None:
        """Ask "How do I name?" with text as bob's answer; on a change, bob deletes his old
        answer and posts text as a new one (so the thread's latest reply moves)."""
        with self.space.lock:
            question = f"How do I {name}?"
            parent = self.space.parent("CSUPPORT", question)
            if parent is None:
                parent = self.space.post("CSUPPORT", {"user": ASKER, "text": question})
            replies = self.space.replies.setdefault(parent["ts"], [])
            replies[:] = [r for r in replies if r["user"] != HELPER]
            self.space.reply(parent, HELPER, text)

    def add_reply(self, name: str, text: str, user: str = ASKER, **extra: Any) -> None:
        """One more reply in name's thread."""
        with self.space.lock:
            parent = self.space.parent("CSUPPORT", f"How do I {name}?")
            assert parent is not None, f"no thread {name}"
            self.space.reply(parent, user, text, **extra)

    def remove(self, name: str) -> None:
        """Delete the thread's parent: the thread leaves the channel's history."""
        with self.space.lock:
            parent = self.space.parent("CSUPPORT", f"How do I {name}?")
            if parent is not None:
                self.space.history["CSUPPORT"].remove(parent)
                self.space.replies.pop(parent["ts"], None)

    def stop(self) -> None:
        """Stop the server."""
        self.space.stop()


def start(tmp: Path) -> SlackSite:
    """A workspace whose #support has only the bot's join message."""
    return SlackSite()
