"""The Slack bot through real signed requests; Slack's Web API is a local recorder we own."""

from __future__ import annotations

import json
import re
import time
import uuid
from urllib.parse import urlencode

import httpx
import pytest

from slackbot.bot import SEARCHING
from tests.conftest import SIGNING_SECRET, Stack, sql, upload, wait_done, wait_until
from tests.servers import BOT_USER, FakeSlack, slack_signature
from tests.world import World

FACTS = b"# Greenhouse\n\nThe Thistlewood greenhouse is watered every Tuesday at 6:00 by Ines.\n"
# Slack markup in a document and in file names: shown as written, it pings no one, links nowhere
TRAP = "Expense claims go through the <https://evil.example|HR expense form> & <!channel> hears."
TRAP_SHOWN = "the &lt;https://evil.example|HR expense form&gt; &amp; &lt;!channel&gt; hears."
TRAP_FILE, TRAP_FILE_SHOWN = (
    "Costs <!here> & <https://evil.example|co>.txt",
    ("Costs &lt;!here&gt; &amp; &lt;https://evil.example|co&gt;.txt"),
)
RAW_MARKUP = re.compile(r"[<>]|&(?!amp;|lt;|gt;)")


@pytest.fixture(scope="module")
def person(stack: Stack, slack: FakeSlack) -> dict[str, str]:
    """A gptu user known to Slack by e-mail, reading and writing a collection with one fact."""
    tag = uuid.uuid4().hex[:6]
    name, collection = f"sam-{tag}", f"garden-{tag}"
    with stack.client() as admin:
        admin.post("/v1/users", json={"name": name, "email": f"Sam.{tag}@Example.org"})
        grant = [f"user:{name}"]
        body = {"name": collection, "readers": grant, "writers": grant}
        admin.post("/v1/collections", json=body).raise_for_status()
        admin.patch(f"/v1/users/{name}", json={"default_collection": collection})
        [item] = upload(admin, collection, [("greenhouse.md", FACTS)])
        wait_done(admin, [item["id"]])
    slack_user = f"USAM{tag.upper()}"
    slack.emails[slack_user] = f"sam.{tag}@example.org"
    return {"name": name, "collection": collection, "slack": slack_user, "tag": tag}


def send(stack: Stack, payload: dict, **headers: str) -> httpx.Response:
    """POST a signed Events API request."""
    body = json.dumps(payload).encode()
    signed = {"content-type": "application/json", **slack_signature(SIGNING_SECRET, body)}
    return httpx.post(f"{stack.api_url}/slack/events", content=body, headers={**signed, **headers})


def mention(user: str, channel: str, text: str, ts: str, thread: str | None = None) -> dict:
    """An app_mention event envelope."""
    event = {"type": "app_mention", "user": user, "channel": channel, "ts": ts,
             "text": f"<@{BOT_USER}> {text}"}  # fmt: skip
    if thread:
        event["thread_ts"] = thread
    return {"type": "event_callback", "event_id": f"Ev{uuid.uuid4().hex}", "event": event}


def updates(slack: FakeSlack, channel: str, count: int = 1) -> list[dict]:
    """Wait for count chat.update calls in channel."""
    wait_until(lambda: len(slack.posts("chat.update", channel=channel)) >= count, 300, "answer")
    return slack.posts("chat.update", channel=channel)


def mrkdwn_texts(call: dict) -> list[str]:
    """Every text of a chat call that Slack reads as mrkdwn: the text and its blocks' texts."""
    texts = [call["text"]]
    for block in call.get("blocks") or []:
        texts += [block["text"]["text"]] if block["type"] == "section" else []
        texts += [e["text"] for e in block.get("elements", []) if e.get("type") == "mrkdwn"]
    return texts


def assert_no_raw_markup(texts: list[str]) -> None:
    """No < or > but a block quote's, no & that does not start an entity."""
    for text in texts:
        unquoted = "\n".join(line.removeprefix("> ") for line in text.splitlines())
        assert not RAW_MARKUP.search(unquoted), text


def test_url_verification_and_signatures(stack: Stack) -> None:
    challenge = send(stack, {"type": "url_verification", "challenge": "abc123", "token": "t"})
    assert challenge.status_code == 200 and "abc123" in challenge.text
    body = json.dumps({"type": "url_verification", "challenge": "x"}).encode()
    stale = slack_signature(SIGNING_SECRET, body, int(time.time()) - 600)
    forged = slack_signature("another-secret", body)
    for headers in (stale, forged, {}, {"X-Slack-Request-Timestamp": "soon",
                                        "X-Slack-Signature": "v0=00"}):  # fmt: skip
        answer = httpx.post(f"{stack.api_url}/slack/events", content=body, headers=headers)
        assert answer.status_code == 401 and answer.json()["error"]["code"] == "unauthorized"


@pytest.mark.parametrize(
    "raw", [b"{not json", b"[]", b'{"no": "type"}', b'{"type": "event_callback"}', b"\xff\xfe"]
)
def test_malformed_payloads_get_400(stack: Stack, raw: bytes) -> None:
    headers = {"content-type": "application/json", **slack_signature(SIGNING_SECRET, raw)}
    answer = httpx.post(f"{stack.api_url}/slack/events", content=raw, headers=headers)
    assert answer.status_code == 400 and answer.json()["error"]["code"] == "invalid_request"
    assert httpx.get(f"{stack.api_url}/healthz").status_code == 200


def test_mention_gets_searching_then_a_cited_answer_once_despite_retries(
    stack: Stack, slack: FakeSlack, person: dict[str, str]
) -> None:
    channel = f"CGREEN{person['tag']}"
    payload = mention(person["slack"], channel, "When is the greenhouse watered?", "1.0001")
    started = time.monotonic()
    first = send(stack, payload)
    assert first.status_code == 200 and time.monotonic() - started < 3
    for retry in ("1", "2"):
        assert send(stack, payload, **{"X-Slack-Retry-Num": retry}).status_code == 200
    [answer] = updates(slack, channel)
    time.sleep(1)
    posts = slack.posts("chat.postMessage", channel=channel)
    assert [p["text"] for p in posts] == [SEARCHING] and posts[0]["thread_ts"] == "1.0001"
    assert len(slack.posts("chat.update", channel=channel)) == 1
    assert "greenhouse.md" in json.dumps(answer["blocks"])
    quote = answer["blocks"][0]["text"]["text"]  # the evidence first, above the answer
    assert quote.startswith("> ") and "every Tuesday at 6:00" in quote and "greenhouse.md" in quote
    buttons = answer["blocks"][-1]["elements"]
    assert [b["action_id"] for b in buttons] == ["feedback_up", "feedback_down"]
    trace_id = buttons[0]["value"]
    click = {
        "type": "block_actions",
        "user": {"id": person["slack"]},
        "channel": {"id": channel},
        "actions": [{**buttons[1], "type": "button"}],
        "message": {"ts": answer["ts"], "text": answer["text"], "blocks": answer["blocks"]},
    }
    form = urlencode({"payload": json.dumps(click)}).encode()
    headers = {"content-type": "application/x-www-form-urlencoded",
               **slack_signature(SIGNING_SECRET, form)}  # fmt: skip
    assert httpx.post(f"{stack.api_url}/slack/events", content=form, headers=headers).is_success
    updates(slack, channel, 2)
    assert "Thanks for the feedback" in json.dumps(slack.posts("chat.update", channel=channel)[-1])
    rows = sql(stack, "SELECT rating, user_name FROM feedback WHERE trace_id = :t", t=trace_id)
    assert rows == [(-1, person["name"])]


def test_follow_up_in_the_thread_keeps_the_conversation(
    stack: Stack, slack: FakeSlack, person: dict[str, str]
) -> None:
    channel = f"CFOLLOW{person['tag']}"
    send(stack, mention(person["slack"], channel, "Who waters the greenhouse?", "2.0001"))
    updates(slack, channel)
    event = {
        "type": "message",
        "channel_type": "channel",
        "user": person["slack"],
        "channel": channel,
        "ts": "2.0005",
        "thread_ts": "2.0001",
        "text": "on which day?",
    }
    send(stack, {"type": "event_callback", "event_id": f"Ev{uuid.uuid4().hex}", "event": event})
    updates(slack, channel, 2)
    posts = slack.posts("chat.postMessage", channel=channel)
    assert [p["thread_ts"] for p in posts] == ["2.0001", "2.0001"]
    [(query,)] = sql(stack, "SELECT search_query FROM traces WHERE question = 'on which day?'")
    assert "Who waters the greenhouse?" in query


def test_unlinked_user_gets_a_polite_note_and_no_answer(stack: Stack, slack: FakeSlack) -> None:
    channel = f"CSTRANGER{uuid.uuid4().hex[:6]}"
    send(stack, mention("USTRANGER", channel, "When is the greenhouse watered?", "3.0001"))
    wait_until(lambda: slack.posts("chat.postMessage", channel=channel), 60, "note")
    time.sleep(1)
    [note] = slack.posts("chat.postMessage", channel=channel)
    assert "ask an admin to link your account" in note["text"].lower()
    assert "USTRANGER" in note["text"] and "Tuesday" not in json.dumps(note)
    assert "`gptu users link &lt;name&gt; --slack USTRANGER`" in note["text"]  # no <name> link
    assert slack.posts("chat.update", channel=channel) == []


def test_file_shared_in_a_dm_is_ingested_and_reported(
    stack: Stack, slack: FakeSlack, person: dict[str, str]
) -> None:
    channel = f"DFILE{person['tag']}"
    slack.files["memo.md"] = b"# Memo\n\nThe Thistlewood orchard is pruned in February.\n"
    shared = {"id": "F1", "name": "memo.md", "size": 52,
              "url_private_download": f"{slack.url}/files/memo.md"}  # fmt: skip
    event = {
        "type": "message",
        "subtype": "file_share",
        "channel_type": "im",
        "text": "",
        "user": person["slack"],
        "channel": channel,
        "ts": "4.0001",
        "files": [shared],
    }
    send(stack, {"type": "event_callback", "event_id": f"Ev{uuid.uuid4().hex}", "event": event})
    wait_until(lambda: len(slack.posts("chat.postMessage", channel=channel)) >= 2, 120, "ready")
    texts = [p["text"] for p in slack.posts("chat.postMessage", channel=channel)]
    assert texts[0].startswith("Got memo.md") and "memo.md is ready" in texts[1]
    with stack.client() as admin:
        docs = admin.get("/v1/documents", params={"collection": person["collection"]}).json()
    [memo] = [d for d in docs if d["filename"] == "memo.md"]
    assert memo["status"] == "ready"


def test_files_come_only_from_slack_and_only_up_to_the_size_limit(
    stack: Stack, slack: FakeSlack, person: dict[str, str]
) -> None:
    channel = f"DBAD{person['tag']}"
    slack.files["huge.txt"] = b"x" * (6 << 20)  # over the stack's 5 MB, whatever Slack declares
    files = [
        {"id": "F2", "name": "elsewhere.md", "size": 10,
         "url_private_download": "http://169.254.169.254/latest/meta-data"},
        {"id": "F3", "name": "huge.txt", "size": 52,
         "url_private_download": f"{slack.url}/files/huge.txt"},
    ]  # fmt: skip
    event = {"type": "message", "subtype": "file_share", "channel_type": "im", "text": "",
             "user": person["slack"], "channel": channel, "ts": "4.0002",
             "files": files}  # fmt: skip
    send(stack, {"type": "event_callback", "event_id": f"Ev{uuid.uuid4().hex}", "event": event})
    wait_until(lambda: len(slack.posts("chat.postMessage", channel=channel)) >= 2, 60, "replies")
    texts = [p["text"] for p in slack.posts("chat.postMessage", channel=channel)]
    assert texts[0] == (
        "I could not take elsewhere.md: its download address is not one of Slack's file hosts"
    )
    assert texts[1].startswith("I could not take huge.txt: it is larger than the limit of 5 MB")
    with stack.client() as admin:
        docs = admin.get("/v1/documents", params={"collection": person["collection"]}).json()
    assert not {"elsewhere.md", "huge.txt"} & {d["filename"] for d in docs}


def test_a_flood_of_events_is_acknowledged_fast_and_each_answered_once(
    stack: Stack, slack: FakeSlack
) -> None:
    tag = uuid.uuid4().hex[:6]
    name = f"flood-{tag}"
    with stack.client() as admin:
        admin.post("/v1/users", json={"name": name, "email": f"{name}@example.org"})
    slack.emails[f"UFLOOD{tag}"] = f"{name}@example.org"
    channel = f"CFLOOD{tag}"
    slowest = 0.0
    for i in range(30):
        started = time.monotonic()
        answer = send(stack, mention(f"UFLOOD{tag}", channel, f"question {i}?", f"5.{i:04}"))
        slowest = max(slowest, time.monotonic() - started)
        assert answer.status_code == 200
    assert slowest < 3
    updates(slack, channel, 30)
    time.sleep(1)
    assert len(slack.posts("chat.update", channel=channel)) == 30


def test_slack_markup_in_documents_and_names_reaches_slack_as_text(
    stack: Stack, slack: FakeSlack, world: World
) -> None:
    tag = uuid.uuid4().hex[:6]
    name, collection, member = f"mark-{tag}", f"markup-{tag}", f"UMARK{tag.upper()}"
    with stack.client() as admin:
        admin.post("/v1/users", json={"name": name, "email": f"{name}@example.org"})
        body = {"name": collection, "readers": [f"user:{name}"]}
        admin.post("/v1/collections", json=body).raise_for_status()
        [item] = upload(admin, collection, [(TRAP_FILE, TRAP.encode())])
        wait_done(admin, [item["id"]])
    slack.emails[member] = f"{name}@example.org"
    channel = f"CMARK{tag}"
    body = json.dumps(mention(member, channel, "How do expense claims go?", "6.0001")).encode()
    headers = {"content-type": "application/json", **slack_signature(SIGNING_SECRET, body)}
    # the echoing API's answer repeats the passage, so its text is the document's too
    httpx.post(f"{world.echo_url}/slack/events", content=body, headers=headers)
    [answer] = updates(slack, channel)
    assert_no_raw_markup(mrkdwn_texts(answer))
    quote, said, sources = (b for b in answer["blocks"] if b["type"] in ("section", "context"))
    assert quote["text"]["text"].startswith("> ") and TRAP_SHOWN in quote["text"]["text"]
    assert f"({TRAP_FILE_SHOWN})" in quote["text"]["text"]
    assert TRAP_SHOWN in said["text"]["text"] and TRAP_SHOWN in answer["text"]
    assert TRAP_FILE_SHOWN in sources["elements"][0]["text"]


def test_file_names_and_errors_reach_slack_as_text(
    stack: Stack, slack: FakeSlack, person: dict[str, str]
) -> None:
    channel = f"DMARK{person['tag']}"
    slack.files["trap.txt"] = TRAP.encode()
    files = [
        {"id": "F4", "name": TRAP_FILE, "size": 10,
         "url_private_download": "http://169.254.169.254/<!channel>"},
        {"id": "F5", "name": TRAP_FILE, "size": len(TRAP),
         "url_private_download": f"{slack.url}/files/trap.txt"},
    ]  # fmt: skip
    event = {"type": "message", "subtype": "file_share", "channel_type": "im", "text": "",
             "user": person["slack"], "channel": channel, "ts": "4.0003",
             "files": files}  # fmt: skip
    send(stack, {"type": "event_callback", "event_id": f"Ev{uuid.uuid4().hex}", "event": event})
    wait_until(lambda: len(slack.posts("chat.postMessage", channel=channel)) >= 3, 120, "ready")
    refused, got, ready = [p["text"] for p in slack.posts("chat.postMessage", channel=channel)]
    assert refused.startswith(f"I could not take {TRAP_FILE_SHOWN}: its download address is")
    assert got.startswith(f"Got {TRAP_FILE_SHOWN}; ")
    assert ready.startswith(f"{TRAP_FILE_SHOWN} is ready")
    assert_no_raw_markup([refused, got, ready])
