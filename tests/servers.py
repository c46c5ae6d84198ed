"""Small HTTP servers we own for tests: Slack's Web API and an echoing OpenAI-style model."""

from __future__ import annotations

import hashlib
import hmac
import itertools
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlparse

BOT_USER = "UGPTUBOT"


class Recorder(ThreadingHTTPServer):
    """A threaded HTTP server on a free local port, run in a daemon thread."""

    daemon_threads = True

    def __init__(self, handler: type[BaseHTTPRequestHandler]) -> None:
        super().__init__(("127.0.0.1", 0), handler)
        self.thread = threading.Thread(target=self.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        """Base URL."""
        return f"http://127.0.0.1:{self.server_address[1]}"

    def stop(self) -> None:
        """Shut down."""
        self.shutdown()
        self.server_close()


class FakeSlack(Recorder):
    """Records Web API calls (chat.postMessage, chat.update) and answers users.info."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.emails: dict[str, str] = {}
        self.files: dict[str, bytes] = {}
        self.lock = threading.Lock()
        self.ts = itertools.count(1)
        super().__init__(SlackHandler)

    def record(self, method: str, args: dict[str, Any]) -> dict[str, Any]:
        """Store the call and make Slack's answer."""
        with self.lock:
            self.calls.append((method, args))
            if method == "auth.test":
                return {"ok": True, "user_id": BOT_USER, "bot_id": "BGPTU", "team_id": "T1"}
            if method == "chat.postMessage":
                ts = f"{1700000000 + next(self.ts)}.000100"
                return {"ok": True, "channel": args.get("channel"), "ts": ts}
            if method == "chat.update":
                return {"ok": True, "channel": args.get("channel"), "ts": args.get("ts")}
            if method == "users.info":
                email = self.emails.get(str(args.get("user")))
                if email is None:
                    return {"ok": False, "error": "user_not_found"}
                return {"ok": True, "user": {"id": args["user"], "profile": {"email": email}}}
        return {"ok": False, "error": "unknown_method"}

    def posts(self, method: str, **match: str) -> list[dict[str, Any]]:
        """Recorded calls of one method whose arguments include match."""
        with self.lock:
            return [
                args
                for name, args in self.calls
                if name == method and all(args.get(k) == v for k, v in match.items())
            ]


class SlackHandler(BaseHTTPRequestHandler):
    """Slack's /api/<method> endpoints (JSON or form bodies) and /files/<name> downloads."""

    server: FakeSlack

    def log_message(self, *args: Any) -> None:
        """Quiet."""

    def do_GET(self) -> None:
        """users.info (query string) or a file download."""
        url = urlparse(self.path)
        if url.path.startswith("/files/"):
            content = self.server.files.get(url.path.removeprefix("/files/"))
            if content is None or self.headers.get("authorization") != "Bearer xoxb-test":
                self.reply(404, b"not found")
                return
            self.reply(200, content)
            return
        self.answer(url.path, dict(parse_qsl(url.query)))

    def do_POST(self) -> None:
        """Web API calls with a JSON or form body."""
        raw = self.rfile.read(int(self.headers.get("content-length") or 0)).decode()
        if self.headers.get("content-type", "").startswith("application/json"):
            args = json.loads(raw or "{}")
        else:
            args = dict(parse_qsl(raw))
        url = urlparse(self.path)
        args.update(dict(parse_qsl(url.query)))
        self.answer(url.path, args)

    def answer(self, path: str, args: dict[str, Any]) -> None:
        """Answer /api/<method>."""
        result = self.server.record(path.rsplit("/", 1)[-1], args)
        self.reply(200, json.dumps(result).encode(), "application/json")

    def reply(self, status: int, body: bytes, kind: str = "application/octet-stream") -> None:
        """Send a response."""
        self.send_response(status)
        self.send_header("content-type", kind)
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


class EchoModel(Recorder):
    """An OpenAI-compatible chat server that streams back the prompt's passages, verbatim.

    With it, an answer's text shows exactly what reached the model, so a test can assert
    that no passage the asker may not read was ever put in a prompt.
    """

    def __init__(self) -> None:
        super().__init__(EchoHandler)


class EchoHandler(BaseHTTPRequestHandler):
    """POST /chat/completions with stream=true: the last user message as SSE chunks."""

    def log_message(self, *args: Any) -> None:
        """Quiet."""

    def do_POST(self) -> None:
        """Echo the last message in three chunks."""
        body = json.loads(self.rfile.read(int(self.headers.get("content-length") or 0)))
        text = body["messages"][-1]["content"]
        self.send_response(200)
        self.send_header("content-type", "text/event-stream")
        self.end_headers()
        third = max(1, len(text) // 3)
        for start in range(0, len(text), third):
            chunk = {"choices": [{"index": 0, "delta": {"content": text[start : start + third]}}]}
            self.wfile.write(f"data: {json.dumps(chunk)}\n\n".encode())
        self.wfile.write(b"data: [DONE]\n\n")


def slack_signature(secret: str, body: bytes, timestamp: int | None = None) -> dict[str, str]:
    """The headers Slack sends: v0 HMAC-SHA256 of 'v0:<timestamp>:<body>'."""
    stamp = str(int(time.time()) if timestamp is None else timestamp)
    base = b"v0:" + stamp.encode() + b":" + body
    digest = hmac.new(secret.encode(), base, hashlib.sha256).hexdigest()
    return {"X-Slack-Request-Timestamp": stamp, "X-Slack-Signature": f"v0={digest}"}
