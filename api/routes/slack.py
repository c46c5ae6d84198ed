"""`POST /slack/events`: Slack's Events API and interactivity, signed, acknowledged at once."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from typing import Any
from urllib.parse import parse_qs

from fastapi import APIRouter, Request, Response
from fastapi.concurrency import run_in_threadpool
from slack_bolt import BoltRequest

from core.errors import InvalidRequest, NotFound, Unauthorized

router = APIRouter(tags=["slack"])
MAX_AGE_S = 300


def payload_of(body: bytes, content_type: str) -> dict[str, Any]:
    """The event or interaction payload; 400 when it is not what Slack sends."""
    try:
        text = body.decode("utf-8")
        if content_type.startswith("application/x-www-form-urlencoded"):
            form = parse_qs(text, strict_parsing=True)
            data = json.loads(form["payload"][0]) if "payload" in form else form
        else:
            data = json.loads(text)
    except (UnicodeDecodeError, ValueError, KeyError):
        raise InvalidRequest("malformed Slack payload") from None
    if not isinstance(data, dict) or not isinstance(data.get("type"), str):
        raise InvalidRequest("malformed Slack payload: no type")
    if data["type"] == "event_callback" and not isinstance(data.get("event"), dict):
        raise InvalidRequest("malformed Slack payload: event_callback without an event")
    return data


def signed(secret: str, body: bytes, request: Request) -> bool:
    """Whether Slack signed these bytes with our secret in the last five minutes (v0 scheme)."""
    stamp = request.headers.get("x-slack-request-timestamp", "")
    signature = request.headers.get("x-slack-signature", "")
    if not stamp.isdigit() or abs(time.time() - int(stamp)) > MAX_AGE_S:
        return False
    base = b"v0:" + stamp.encode() + b":" + body
    expected = "v0=" + hmac.new(secret.encode(), base, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, signature)


@router.post("/slack/events")
async def slack_events(request: Request) -> Response:
    """Slack Events API requests (signature checked), answered in the thread that asked."""
    bot = getattr(request.app.state, "slack", None)
    if bot is None:
        raise NotFound("Slack is not set up: GPTU_SLACK_BOT_TOKEN, GPTU_SLACK_SIGNING_SECRET")
    body = await request.body()
    if not signed(bot.settings.slack_signing_secret, body, request):
        raise Unauthorized("invalid or stale Slack signature")
    payload_of(body, request.headers.get("content-type", ""))
    bolt_request = BoltRequest(body=body.decode("utf-8"), headers=dict(request.headers))
    answer = await run_in_threadpool(bot.app.dispatch, bolt_request)
    return Response(
        status_code=answer.status,
        content=answer.body,
        headers=answer.first_headers_without_set_cookie(),
    )
