"""The permission matrix (tests/world.py): for every user and every surface, exactly the
phrases they may read appear. The echoing API's answers show which passages reached the model.
"""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import openai
import pytest

from tests.conftest import SIGNING_SECRET, Stack, upload, wait_done, wait_until
from tests.servers import FakeSlack, slack_signature
from tests.world import ALLOWED, QUESTION, SECRETS, USERS, World, slack_id


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
