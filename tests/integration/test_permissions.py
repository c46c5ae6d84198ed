"""The permission matrix: 3 users, 3 groups, 4 collections, a secret phrase per document.

For every user and every surface, exactly the phrases they may read appear. A second API
process answers through `EchoModel` (our OpenAI-style fake that repeats its prompt), so the
answer text shows exactly which passages reached the model.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import openai
import pytest

from cli.localstack import Process, free_port, wait_until
from tests.conftest import GPTU, SIGNING_SECRET, Stack, upload, wait_done
from tests.servers import EchoModel, FakeSlack, slack_signature

GROUPS = ("hr", "eng", "board")
MEMBERS = {"alice": ["hr"], "bob": ["eng"], "carol": ["hr", "board"]}
SECRETS = {"hr": "PLUM-HERON-41", "eng": "COBALT-OTTER-58", "board": "SAFFRON-LYNX-93",
           "all": "MAPLE-WREN-26"}  # fmt: skip
READERS = {"hr": ["hr"], "eng": ["eng"], "board": ["board"], "all": ["everyone"]}
ALLOWED = {"alice": {"hr", "all"}, "bob": {"eng", "all"}, "carol": {"hr", "board", "all"}}
QUESTION = "What is the codeword of the review?"


@dataclass
class World:
    """Users with keys, collections by short name, the echoing API's URL."""

    tag: str
    keys: dict[str, str]
    collections: dict[str, str]
    files: dict[str, str]
    documents: dict[str, str]
    echo_url: str

    def phrases(self, text: str) -> set[str]:
        """Which secret phrases (by short name) occur in text."""
        return {short for short, phrase in SECRETS.items() if phrase in text}


@pytest.fixture(scope="module")
def world(
    stack: Stack, slack: FakeSlack, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[World]:
    """Groups, users (with Slack e-mails), collections and one document per collection."""
    tag = uuid.uuid4().hex[:6]
    keys, collections, files, documents = {}, {}, {}, {}
    with stack.client() as admin:
        for group in GROUPS:
            admin.post("/v1/groups", json={"name": f"{group}-{tag}"}).raise_for_status()
        for user, groups in MEMBERS.items():
            name = f"{user}-{tag}"
            body = {"name": name, "email": f"{name}@example.org",
                    "groups": [f"{g}-{tag}" for g in groups]}  # fmt: skip
            admin.post("/v1/users", json=body).raise_for_status()
            keys[user] = admin.post(f"/v1/users/{name}/keys").json()["key"]
            slack.emails[slack_id(user, tag)] = f"{name}@example.org"
        ids = []
        for short, readers in READERS.items():
            name = collections[short] = f"{short}-{tag}"
            grants = [r if r == "everyone" else f"{r}-{tag}" for r in readers]
            admin.post("/v1/collections", json={"name": name, "readers": grants}).raise_for_status()
            files[short] = f"{short}-review-{tag}.md"
            text = f"# Review\n\nThe codeword of the review is {SECRETS[short]}.\n"
            [item] = upload(admin, name, [(files[short], text.encode())])
            documents[short] = item["id"]
            ids.append(item["id"])
        assert all(d["status"] == "ready" for d in wait_done(admin, ids).values())
    echo = EchoModel()
    env = {**stack.env, "GPTU_PORT": str(free_port()), "GPTU_LLM_URL": echo.url,
           "GPTU_MIN_SIMILARITY": "0"}  # fmt: skip
    url = f"http://127.0.0.1:{env['GPTU_PORT']}"
    api = Process([*GPTU, "serve"], env, tmp_path_factory.mktemp("echo") / "api.log")
    api.start()
    try:
        wait_until(lambda: httpx.get(f"{url}/readyz").status_code == 200, 120, "echo API ready")
        yield World(tag, keys, collections, files, documents, url)
    finally:
        api.stop()
        echo.stop()


def slack_id(user: str, tag: str) -> str:
    """A Slack member id per user."""
    return f"U{user.upper()}{tag.upper()}"


USERS = sorted(MEMBERS)


@pytest.mark.parametrize("user", USERS)
def test_search_returns_exactly_the_readable_phrases(stack: Stack, world: World, user: str) -> None:
    with stack.client(world.keys[user]) as api:
        found = api.post("/v1/search", json={"query": QUESTION, "k": 50}).json()["results"]
    mine = [r for r in found if r["collection"].endswith(world.tag)]
    assert world.phrases(json.dumps(mine)) == ALLOWED[user]
    assert {r["collection"] for r in mine} == {world.collections[s] for s in ALLOWED[user]}


@pytest.mark.parametrize("user", USERS)
def test_chat_sources_and_answer_hold_only_readable_phrases(
    stack: Stack, world: World, user: str
) -> None:
    body = {"messages": [{"role": "user", "content": QUESTION}], "stream": False, "k": 10,
            "collections": [world.collections[s] for s in sorted(ALLOWED[user])]}  # fmt: skip
    with stack.client(world.keys[user]) as api:
        real = api.post("/v1/chat", json=body, timeout=300).json()
    assert world.phrases(json.dumps(real["sources"])) == ALLOWED[user]
    assert world.phrases(real["answer"]) <= ALLOWED[user]
    del body["collections"]  # every collection the user may read
    with httpx.Client(base_url=world.echo_url, headers=stack.headers(world.keys[user])) as echo:
        streamed = echo.post("/v1/chat", json={**body, "stream": True}, timeout=120).text
    answer = json.loads(streamed.rsplit("event: done\ndata: ", 1)[1])["answer"]
    assert world.phrases(answer) == ALLOWED[user]
    assert world.phrases(streamed) == ALLOWED[user]


@pytest.mark.parametrize("user", USERS)
def test_openai_endpoint_holds_only_readable_phrases(stack: Stack, world: World, user: str) -> None:
    client = openai.OpenAI(base_url=f"{world.echo_url}/v1", api_key=world.keys[user], max_retries=0)
    reply = client.chat.completions.create(
        model="gptu", messages=[{"role": "user", "content": QUESTION}]
    )
    assert world.phrases(reply.choices[0].message.content or "") == ALLOWED[user]
    assert world.phrases(json.dumps(reply.model_extra)) == ALLOWED[user]


@pytest.mark.parametrize("user", USERS)
def test_documents_list_get_and_download_follow_the_grants(
    stack: Stack, world: World, user: str
) -> None:
    with stack.client(world.keys[user]) as api:
        listed = {d["filename"] for d in api.get("/v1/documents").json()}
        assert listed & set(world.files.values()) == {world.files[s] for s in ALLOWED[user]}
        names = {c["name"] for c in api.get("/v1/collections").json()}
        assert names & set(world.collections.values()) == {
            world.collections[s] for s in ALLOWED[user]
        }
        missing = api.get("/v1/documents", params={"collection": f"nothing-{world.tag}"})
        for short, doc_id in world.documents.items():
            got, file = api.get(f"/v1/documents/{doc_id}"), api.get(f"/v1/documents/{doc_id}/file")
            if short in ALLOWED[user]:
                assert got.status_code == 200 and SECRETS[short] in file.text
                continue
            assert got.status_code == file.status_code == 404
            assert SECRETS[short] not in file.text and world.files[short] not in got.text
            hidden = api.get("/v1/documents", params={"collection": world.collections[short]})
            assert hidden.status_code == 404 == missing.status_code
            assert hidden.json()["error"]["message"].replace(world.collections[short], "X") == (
                missing.json()["error"]["message"].replace(f"nothing-{world.tag}", "X")
            )


@pytest.mark.parametrize("user", USERS)
def test_slack_answers_as_the_linked_user(
    stack: Stack, world: World, slack: FakeSlack, user: str
) -> None:
    channel, ts = f"C{world.tag}{user}", "1800000000.000100"
    event = {"type": "app_mention", "user": slack_id(user, world.tag), "channel": channel,
             "ts": ts, "text": f"<@UGPTUBOT> {QUESTION}"}  # fmt: skip
    envelope = {"type": "event_callback", "event_id": f"Ev{world.tag}{user}", "event": event}
    body = json.dumps(envelope).encode()
    headers = {"content-type": "application/json", **slack_signature(SIGNING_SECRET, body)}
    assert httpx.post(f"{stack.api_url}/slack/events", content=body, headers=headers).is_success
    wait_until(lambda: slack.posts("chat.update", channel=channel), 300, "Slack answer")
    [answer] = slack.posts("chat.update", channel=channel)
    sources = json.dumps([b for b in answer["blocks"] if b["type"] == "context"])
    assert {s for s, f in world.files.items() if f in sources} == ALLOWED[user]
    assert world.phrases(json.dumps(answer)) <= ALLOWED[user]


def test_writer_who_is_not_a_reader_cannot_read_back(
    stack: Stack, world: World, tmp_path: Path
) -> None:
    drop = f"dropbox-{world.tag}"
    with stack.client() as admin:
        grants = {"name": drop, "readers": [f"board-{world.tag}"],
                  "writers": [f"eng-{world.tag}"]}  # fmt: skip
        admin.post("/v1/collections", json=grants).raise_for_status()
    with stack.client(world.keys["bob"]) as bob:
        [item] = upload(bob, drop, [("tip.md", b"# Tip\n\nThe tip line code is GINGER-MOTH-12.\n")])
        assert wait_done(bob, [item["id"]])[item["id"]]["status"] == "ready"
        every = bob.post("/v1/search", json={"query": "tip line code", "k": 50}).json()
        assert "GINGER-MOTH-12" not in json.dumps(every)
        asked = bob.post("/v1/search", json={"query": "tip line code", "collections": [drop]})
        assert asked.status_code == 403
        mine = {c["name"]: c for c in bob.get("/v1/collections").json()}
        assert mine[drop]["documents"] is None and mine[drop]["access"]["read"] is False
    with stack.client(world.keys["carol"]) as carol:
        found = carol.post("/v1/search", json={"query": "tip line code", "collections": [drop]})
        assert "GINGER-MOTH-12" in found.text
        refused = carol.post("/v1/documents", data={"collection": drop},
                             files=[("file", ("x.md", b"# x"))])  # fmt: skip
        assert refused.status_code == 403


def test_revoked_keys_and_deleted_users_stop_at_once(stack: Stack, world: World) -> None:
    name = f"dave-{world.tag}"
    with stack.client() as admin:
        admin.post("/v1/users", json={"name": name}).raise_for_status()
        first = admin.post(f"/v1/users/{name}/keys").json()
        second = admin.post(f"/v1/users/{name}/keys").json()
        with stack.client(first["key"]) as dave:
            assert dave.get("/v1/me").json()["name"] == name
            assert admin.delete(f"/v1/keys/{first['id']}").status_code == 200
            assert dave.get("/v1/me").status_code == 401
        with stack.client(second["key"]) as dave:
            assert dave.get("/v1/collections").status_code == 200
            assert admin.delete(f"/v1/users/{name}").status_code == 200
            assert dave.get("/v1/collections").status_code == 401
        actions = [e["action"] for e in admin.get("/v1/audit", params={"limit": 50}).json()]
        assert {"key.revoke", "user.delete", "key.create", "collection.create"} <= set(actions)


def test_requests_without_a_valid_key_get_401_and_non_admins_403(
    stack: Stack, world: World
) -> None:
    for headers in ({}, {"Authorization": "Bearer nope"}, {"Authorization": "Basic abc"}):
        answer = httpx.post(f"{stack.api_url}/v1/search", json={"query": "x"}, headers=headers)
        assert answer.status_code == 401
        assert answer.json()["error"]["code"] == "unauthorized"
        assert answer.headers["www-authenticate"] == "Bearer"
    with stack.client(world.keys["alice"]) as alice:
        for method, path in (("POST", "/v1/users"), ("GET", "/v1/audit"), ("POST", "/v1/groups"),
                             ("DELETE", f"/v1/keys/{'0' * 32}"), ("GET", "/v1/users")):  # fmt: skip
            answer = alice.request(method, path, json={"name": "zed"})
            assert answer.status_code == 403, (method, path, answer.text)
        gone = alice.delete(f"/v1/collections/{world.collections['all']}")
        assert gone.status_code == 403
