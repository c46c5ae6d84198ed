"""Identity by id: a user deleted and created again under the same name inherits nothing.

One user asks (a saved conversation), rates, uploads, owns collections and is linked to Slack;
then an admin deletes them and creates a newcomer with the same name (and a new key), who sees
none of it.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass

import pytest

from tests.conftest import Stack, sql, upload, wait_done, wait_until
from tests.integration.test_slack import mention, send
from tests.servers import FakeSlack

NOTES = b"# Locker\n\nThe code of the bike locker is TEAL-FINCH-77.\n"


@dataclass
class Namesake:
    """The name both users had, the newcomer's key and what the first one left behind."""

    name: str
    key: str
    trace_id: str
    conversation_id: str
    document_id: str
    private: str
    owned: str
    shared: str
    slack_id: str


@pytest.fixture(scope="module")
def namesake(stack: Stack) -> Namesake:
    """The first user's traces, feedback, upload, collections and Slack link; then the newcomer."""
    tag = uuid.uuid4().hex[:6]
    name, slack_id = f"xavier-{tag}", f"UXAVIER{tag.upper()}"
    private, owned, shared = f"private-{tag}", f"owned-{tag}", f"shared-{tag}"
    with stack.client() as admin:
        admin.post("/v1/users", json={"name": name}).raise_for_status()
        first = admin.post(f"/v1/users/{name}/keys").json()["key"]
        admin.patch(f"/v1/users/{name}", json={"slack_id": slack_id}).raise_for_status()
        grant = {"name": shared, "readers": [f"user:{name}"], "writers": []}
        admin.post("/v1/collections", json=grant).raise_for_status()
        with stack.client(first) as old:
            old.post("/v1/collections", json={"name": private}).raise_for_status()
            body = {"name": owned, "readers": ["everyone"]}
            old.post("/v1/collections", json=body).raise_for_status()
            [item] = upload(old, private, [(f"locker-{tag}.md", NOTES)])
            assert wait_done(old, [item["id"]])[item["id"]]["status"] == "ready"
            question = {"role": "user", "content": "What is the code of the bike locker?"}
            chat = {"messages": [question], "stream": False, "collections": [private]}
            answer = old.post("/v1/chat", json=chat, timeout=300)
            assert answer.status_code == 200, answer.text
            trace_id, conversation_id = answer.json()["trace_id"], answer.json()["conversation_id"]
            rated = old.post("/v1/feedback", json={"trace_id": trace_id, "rating": 1})
            assert rated.status_code == 201, rated.text
            assert [t["id"] for t in old.get("/v1/traces").json()] == [trace_id]
            assert [c["id"] for c in old.get("/v1/conversations").json()] == [conversation_id]
        admin.delete(f"/v1/users/{name}").raise_for_status()
        admin.post("/v1/users", json={"name": name}).raise_for_status()
        key = admin.post(f"/v1/users/{name}/keys").json()["key"]
    return Namesake(
        name, key, trace_id, conversation_id, item["id"], private, owned, shared, slack_id
    )


def test_newcomer_sees_none_of_the_old_traces(stack: Stack, namesake: Namesake) -> None:
    with stack.client(namesake.key) as new:
        assert new.get("/v1/traces").json() == []
        assert new.get(f"/v1/traces/{namesake.trace_id}").status_code == 404
    with stack.client() as admin:
        old = admin.get(f"/v1/traces/{namesake.trace_id}").json()
        assert old["user"] == namesake.name and old["rating"] == 1
        assert admin.get("/v1/traces", params={"user": namesake.name}).json() == []


def test_the_old_conversations_went_with_their_owner(stack: Stack, namesake: Namesake) -> None:
    with stack.client(namesake.key) as new:
        assert new.get("/v1/conversations").json() == []
        assert new.get(f"/v1/conversations/{namesake.conversation_id}").status_code == 404
        again = {"messages": [{"role": "user", "content": "And the code?"}],
                 "conversation_id": namesake.conversation_id, "stream": False}  # fmt: skip
        assert new.post("/v1/chat", json=again).status_code == 404
    query = "SELECT count(*) FROM {} WHERE {} = :id"
    for table, column in (("conversations", "id"), ("conversation_turns", "conversation_id")):
        assert sql(stack, query.format(table, column), id=namesake.conversation_id) == [(0,)]


def test_newcomer_cannot_rate_the_old_answer(stack: Stack, namesake: Namesake) -> None:
    with stack.client(namesake.key) as new:
        body = {"trace_id": namesake.trace_id, "rating": -1, "comment": "not mine"}
        assert new.post("/v1/feedback", json=body).status_code == 404
    with stack.client() as admin:
        old = admin.get(f"/v1/traces/{namesake.trace_id}").json()
        assert old["rating"] == 1 and old["comment"] is None


def test_newcomer_sees_none_of_the_old_uploads(stack: Stack, namesake: Namesake) -> None:
    with stack.client(namesake.key) as new:
        assert namesake.document_id not in {d["id"] for d in new.get("/v1/documents").json()}
        assert new.get(f"/v1/documents/{namesake.document_id}").status_code == 404
        assert new.get(f"/v1/documents/{namesake.document_id}/file").status_code == 404


def test_newcomer_cannot_manage_the_old_collections(stack: Stack, namesake: Namesake) -> None:
    with stack.client(namesake.key) as new:
        seen = new.get(f"/v1/collections/{namesake.owned}").json()
        assert seen["owner"] == namesake.name and seen["access"]["manage"] is False
        grab = new.patch(f"/v1/collections/{namesake.owned}", json={"writers": ["everyone"]})
        assert grab.status_code == 403
        assert new.delete(f"/v1/collections/{namesake.owned}").status_code == 403
        assert new.get(f"/v1/collections/{namesake.private}").status_code == 404
    with stack.client() as admin:
        assert admin.get(f"/v1/collections/{namesake.owned}").json()["writers"] == []


def test_newcomer_is_not_granted_the_old_personal_group(stack: Stack, namesake: Namesake) -> None:
    with stack.client(namesake.key) as new:
        assert new.get(f"/v1/collections/{namesake.shared}").status_code == 404
        asked = new.post("/v1/search", json={"query": "locker", "collections": [namesake.shared]})
        assert asked.status_code == 404
    with stack.client() as admin:
        assert admin.get(f"/v1/collections/{namesake.shared}").json()["readers"] == []


def test_newcomer_is_not_linked_to_the_old_slack_id(
    stack: Stack, slack: FakeSlack, namesake: Namesake
) -> None:
    with stack.client() as admin:
        users = {u["name"]: u for u in admin.get("/v1/users").json()}
    assert users[namesake.name]["slack_id"] is None
    channel = f"CIDENTITY{uuid.uuid4().hex[:6]}"
    send(stack, mention(namesake.slack_id, channel, "What is the locker code?", "4.0001"))
    wait_until(lambda: slack.posts("chat.postMessage", channel=channel), 60, "note")
    time.sleep(1)
    [note] = slack.posts("chat.postMessage", channel=channel)
    assert "ask an admin to link your account" in note["text"].lower()
    assert slack.posts("chat.update", channel=channel) == []
