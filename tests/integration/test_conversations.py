"""Saved conversations through the API: kept by /v1/chat, listed, reopened, renamed, deleted;
nobody else's; by user id; sources the owner may no longer read are not shown again.

Most tests run on the in-process API with a scripted model (test_scripted.py's fixture), so the
history the model is given can be checked; one asks the real packaged model on the stack.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

import httpx
from sqlalchemy import func, select

from answer.conversations import MAX_CONVERSATIONS, MAX_TITLE, MAX_TURNS
from core.db import User, utcnow
from core.records import Conversation, ConversationTurn
from tests.conftest import Stack, sql, upload, wait_done
from tests.integration import test_scripted
from tests.integration.test_scripted import FACTS, Scripted

scripted = test_scripted.scripted  # the in-process API with a scripted model (module fixture)

QUESTION = "When does the Zorblat office open on Mondays?"
REPLY = "The Zorblat office opens at 7:15 on Mondays [1]."
VAULT = "# Vault\n\nThe code of the Quindle vault is 4471-KESTREL.\n"


@dataclass
class Person:
    """A user of the scripted API with a key and a collection of their own (hours.md)."""

    name: str
    key: str
    collection: str
    url: str

    def client(self) -> httpx.Client:
        """A client signed in as this person."""
        headers = {"Authorization": f"Bearer {self.key}"}
        return httpx.Client(base_url=self.url, timeout=60, headers=headers)


def ingest(scripted: Scripted, collection: str, name: str, text: str) -> str:
    """Upload a file as the admin and ingest it in-process; its document id."""
    with scripted.client() as admin:
        files = [("file", (name, text.encode()))]
        [item] = admin.post("/v1/documents", data={"collection": collection}, files=files).json()
    assert scripted.services.pipeline().run(item["id"])["status"] == "ready"
    return str(item["id"])


def person(scripted: Scripted, prefix: str) -> Person:
    """A new user who alone reads a new collection holding the office hours."""
    tag = uuid.uuid4().hex[:6]
    name, collection = f"{prefix}-{tag}", f"{prefix}-hours-{tag}"
    with scripted.client() as admin:
        admin.post("/v1/users", json={"name": name}).raise_for_status()
        key = admin.post(f"/v1/users/{name}/keys").json()["key"]
        grant = {"name": collection, "readers": [f"user:{name}"]}
        admin.post("/v1/collections", json=grant).raise_for_status()
    ingest(scripted, collection, "hours.md", FACTS)
    return Person(name, key, collection, scripted.url)


def chat(client: httpx.Client, question: str, collection: str, **extra: object) -> httpx.Response:
    """POST /v1/chat with one question (JSON unless stream=True is passed)."""
    body = {"messages": [{"role": "user", "content": question}], "collections": [collection],
            "stream": False, **extra}  # fmt: skip
    return client.post("/v1/chat", json=body)


def done_event(answer: httpx.Response) -> dict:
    """The data of an SSE body's `done` event."""
    data: dict = json.loads(answer.text.split("event: done\ndata: ")[1].split("\n")[0])
    return data


def moment(text: str) -> datetime:
    """A datetime the API wrote."""
    return datetime.fromisoformat(text)


def assert_envelope(answer: httpx.Response, status: int, code: str) -> None:
    """The response is the API's one error envelope with this status and code."""
    assert answer.status_code == status, answer.text
    body = answer.json()
    assert set(body) == {"error"} and body["error"]["code"] == code and body["error"]["message"]


def script(scripted: Scripted, reply: str = REPLY) -> None:
    """Make the scripted model answer `reply` at once."""
    scripted.llm.reply, scripted.llm.delay, scripted.llm.obey = reply, 0.0, False


def test_a_question_starts_a_conversation_and_its_id_continues_it(scripted: Scripted) -> None:
    script(scripted)
    carol = person(scripted, "carol")
    with carol.client() as api:
        first = chat(api, f"  {QUESTION}\n", carol.collection).json()
        conversation_id = first["conversation_id"]
        assert conversation_id and first["answer"] == REPLY
        [listed] = api.get("/v1/conversations").json()
        assert listed["id"] == conversation_id and listed["questions"] == 1
        assert listed["title"] == QUESTION  # the first question, trimmed
        follow = chat(api, "And when does it close?", carol.collection, stream=True,
                      conversation_id=conversation_id)  # fmt: skip
        assert follow.status_code == 200, follow.text
        assert done_event(follow)["conversation_id"] == conversation_id
        prompt = scripted.llm.prompts[-1]  # the stored turns are the follow-up's history
        assert [m["role"] for m in prompt] == ["system", "user", "assistant", "user"]
        assert prompt[1]["content"] == QUESTION and prompt[2]["content"] == REPLY
        assert "And when does it close?" in prompt[3]["content"]
        [listed] = api.get("/v1/conversations").json()
        assert listed["questions"] == 2
        assert moment(listed["updated_at"]) > moment(listed["created_at"])
        kept = api.get(f"/v1/conversations/{conversation_id}").json()
    one, two = kept["turns"]
    assert (one["question"], one["answer"], one["withheld"]) == (QUESTION, REPLY, False)
    assert two["question"] == "And when does it close?"
    assert one["sources"][0]["filename"] == "hours.md" and one["sources"][0]["n"] == 1
    assert "7:15" in one["sources"][0]["text"] and one["citations"] == [1]
    assert one["quote"] and "7:15" in one["quote"][0]["text"]
    assert one["trace_id"] == first["trace_id"] and one["collections"] == [carol.collection]


def test_the_old_request_shape_still_sends_its_own_history(scripted: Scripted) -> None:
    script(scripted)
    dave = person(scripted, "dave")
    history = [{"role": "user", "content": "Where is the Zorblat office?"},
               {"role": "assistant", "content": "On the ground floor."},
               {"role": "user", "content": QUESTION}]  # fmt: skip
    body = {"messages": history, "collections": [dave.collection], "stream": False}
    with dave.client() as api:
        answer = api.post("/v1/chat", json=body).json()
        prompt = scripted.llm.prompts[-1]
        assert [m["content"] for m in prompt[1:3]] == [h["content"] for h in history[:2]]
        kept = api.get(f"/v1/conversations/{answer['conversation_id']}").json()
        assert [t["question"] for t in kept["turns"]] == [QUESTION]  # a new one, this turn
        unsaved = chat(api, QUESTION, dave.collection, save=False).json()
        assert unsaved["conversation_id"] is None and unsaved["answer"] == REPLY
        assert len(api.get("/v1/conversations").json()) == 1


def test_rename_and_delete_with_validation_in_the_envelope(scripted: Scripted) -> None:
    script(scripted)
    erin = person(scripted, "erin")
    with erin.client() as api:
        conversation_id = chat(api, QUESTION, erin.collection).json()["conversation_id"]
        path = f"/v1/conversations/{conversation_id}"
        renamed = api.patch(path, json={"title": "  Office\n hours  "})
        assert renamed.status_code == 200 and renamed.json()["title"] == "Office hours"
        assert renamed.json()["questions"] == 1
        assert api.get("/v1/conversations").json()[0]["title"] == "Office hours"
        for bad in ({"title": ""}, {"title": " \n "}, {"title": "x" * (MAX_TITLE + 1)}, {}):
            assert_envelope(api.patch(path, json=bad), 422, "invalid_request")
        assert api.get(path).json()["title"] == "Office hours"
        assert_envelope(api.get("/v1/conversations", params={"limit": 0}), 422, "invalid_request")
        too_long = chat(api, QUESTION, erin.collection, conversation_id="x" * 65)
        assert_envelope(too_long, 422, "invalid_request")
        gone = api.delete(path)
        assert gone.status_code == 200 and gone.json() == {"id": conversation_id, "deleted": True}
        assert_envelope(api.get(path), 404, "not_found")
        assert_envelope(api.delete(path), 404, "not_found")
        asked = len(scripted.llm.prompts)
        later = chat(api, QUESTION, erin.collection, conversation_id=conversation_id)
        assert_envelope(later, 404, "not_found")
        assert len(scripted.llm.prompts) == asked  # refused before the model was asked
        assert api.get("/v1/conversations").json() == []
    with scripted.services.db.session() as session:
        turns = select(func.count()).where(ConversationTurn.conversation_id == conversation_id)
        assert session.scalar(turns) == 0


def test_someone_elses_conversation_is_not_found(scripted: Scripted) -> None:
    script(scripted)
    owner, other = person(scripted, "fay"), person(scripted, "gus")
    with owner.client() as api:
        conversation_id = chat(api, QUESTION, owner.collection).json()["conversation_id"]
    path = f"/v1/conversations/{conversation_id}"
    with other.client() as api, scripted.client() as admin:
        for client in (api, admin):  # admins too: a conversation is its owner's alone
            assert_envelope(client.get(path), 404, "not_found")
            assert_envelope(client.patch(path, json={"title": "mine"}), 404, "not_found")
            assert_envelope(client.delete(path), 404, "not_found")
        assert conversation_id not in {c["id"] for c in admin.get("/v1/conversations").json()}
        assert api.get("/v1/conversations").json() == []
        taken = chat(api, "Continue it", other.collection, conversation_id=conversation_id)
        assert_envelope(taken, 404, "not_found")
    with owner.client() as api:
        kept = api.get(path).json()
        assert kept["title"] == QUESTION and len(kept["turns"]) == 1


def test_sources_no_longer_readable_are_withheld_with_their_answer(scripted: Scripted) -> None:
    hana = person(scripted, "hana")
    vault = f"vault-{uuid.uuid4().hex[:6]}"
    with scripted.client() as admin:
        admin.post("/v1/collections", json={"name": vault, "readers": [f"user:{hana.name}"]})
    document_id = ingest(scripted, vault, "vault.md", VAULT)
    script(scripted, "The code of the Quindle vault is 4471-KESTREL [1].")
    with hana.client() as api:
        asked = chat(api, "What is the code of the Quindle vault?", vault).json()
        path = f"/v1/conversations/{asked['conversation_id']}"
        [turn] = api.get(path).json()["turns"]
        assert "4471" in turn["answer"] and turn["sources"] and turn["collections"] == [vault]
        with scripted.client() as admin:
            revoke = admin.patch(f"/v1/collections/{vault}", json={"readers": []})
            assert revoke.status_code == 200, revoke.text
        reopened = api.get(path)
        [turn] = reopened.json()["turns"]
        assert turn["withheld"] and turn["answer"] is None
        assert turn["sources"] == turn["quote"] == turn["citations"] == turn["collections"] == []
        assert "4471" not in reopened.text and "Quindle" in reopened.text  # the question stays
        trace = api.get(f"/v1/traces/{asked['trace_id']}")  # nor does the answer's trace show it
        assert trace.json()["withheld"] and "4471" not in trace.text, trace.text
        assert "4471" not in api.get("/v1/traces", params={"limit": 50}).text
        script(scripted)
        follow = chat(api, QUESTION, hana.collection, conversation_id=asked["conversation_id"])
        assert follow.status_code == 200, follow.text
        prompt = scripted.llm.prompts[-1]  # the model is not shown the withheld answer either
        assert [m["role"] for m in prompt] == ["system", "user", "user"]
        assert all("4471" not in m["content"] for m in prompt)
        with scripted.client() as admin:  # access back: checked when read, nothing was lost
            admin.patch(f"/v1/collections/{vault}", json={"readers": [f"user:{hana.name}"]})
            assert "4471" in api.get(path).json()["turns"][0]["answer"]
            admin.delete(f"/v1/documents/{document_id}").raise_for_status()
        first, second = api.get(path).json()["turns"]
    assert first["withheld"] and first["answer"] is None and "4471" not in json.dumps(first)
    assert not second["withheld"] and second["answer"] == REPLY  # its sources are readable


def test_deleting_a_user_deletes_their_conversations_and_a_namesake_sees_none(
    scripted: Scripted,
) -> None:
    script(scripted)
    ivan = person(scripted, "ivan")
    with ivan.client() as api:
        conversation_id = chat(api, QUESTION, ivan.collection).json()["conversation_id"]
    with scripted.client() as admin:
        admin.delete(f"/v1/users/{ivan.name}").raise_for_status()
        admin.post("/v1/users", json={"name": ivan.name}).raise_for_status()
        key = admin.post(f"/v1/users/{ivan.name}/keys").json()["key"]
    with scripted.services.db.session() as session:
        assert session.get(Conversation, conversation_id) is None
        turns = select(func.count()).where(ConversationTurn.conversation_id == conversation_id)
        assert session.scalar(turns) == 0
    newcomer = Person(ivan.name, key, ivan.collection, scripted.url)
    with newcomer.client() as api:
        assert api.get("/v1/conversations").json() == []
        assert_envelope(api.get(f"/v1/conversations/{conversation_id}"), 404, "not_found")


def test_a_conversation_holds_at_most_max_turns(scripted: Scripted) -> None:
    script(scripted)
    june = person(scripted, "june")
    with june.client() as api:
        conversation_id = chat(api, QUESTION, june.collection).json()["conversation_id"]
    with scripted.services.db.session() as session:
        session.add_all(
            ConversationTurn(conversation_id=conversation_id, question=f"q{n}", answer="a")
            for n in range(MAX_TURNS - 1)
        )
    with june.client() as api:
        full = chat(api, "One more?", june.collection, conversation_id=conversation_id)
        assert_envelope(full, 409, "conflict")
        assert str(MAX_TURNS) in full.json()["error"]["message"]
        assert len(api.get(f"/v1/conversations/{conversation_id}").json()["turns"]) == MAX_TURNS
        assert chat(api, "One more?", june.collection).json()["conversation_id"]  # a new one


def test_a_new_conversation_beyond_the_cap_replaces_the_least_recent(scripted: Scripted) -> None:
    script(scripted)
    kim = person(scripted, "kim")
    with scripted.services.db.session() as session:
        user_id = session.scalar(select(User.id).where(User.name == kim.name))
        start = utcnow() - timedelta(days=30)
        session.add_all(
            Conversation(
                id=f"old{n:05d}{uuid.uuid4().hex[:8]}",
                user_id=user_id,
                title=f"old {n}",
                created_at=start,
                updated_at=start + timedelta(minutes=n),
            )
            for n in range(MAX_CONVERSATIONS)
        )
    with kim.client() as api:
        oldest = api.get("/v1/conversations", params={"offset": MAX_CONVERSATIONS - 1}).json()
        assert [c["title"] for c in oldest] == ["old 0"]
        new_id = chat(api, QUESTION, kim.collection).json()["conversation_id"]
        newest = api.get("/v1/conversations", params={"limit": 2}).json()
        assert [c["id"] for c in newest] == [new_id, newest[1]["id"]]
        assert newest[1]["title"] == f"old {MAX_CONVERSATIONS - 1}"
        last = api.get("/v1/conversations", params={"offset": MAX_CONVERSATIONS - 1}).json()
        assert [c["title"] for c in last] == ["old 1"]  # "old 0" made room
        beyond = api.get("/v1/conversations", params={"offset": MAX_CONVERSATIONS}).json()
        assert beyond == []


def test_the_packaged_model_answer_is_kept_with_its_sources(stack: Stack) -> None:
    name = f"conv-{uuid.uuid4().hex[:8]}"
    with stack.client() as api:
        api.post("/v1/collections", json={"name": name}).raise_for_status()
        [item] = upload(api, name, [("hours.md", FACTS.encode())])
        assert wait_done(api, [item["id"]])[item["id"]]["status"] == "ready"
        body = {"messages": [{"role": "user", "content": QUESTION}], "collections": [name]}
        answer = api.post("/v1/chat", json=body, timeout=300)
        assert answer.status_code == 200, answer.text
        done = done_event(answer)
        kept = api.get(f"/v1/conversations/{done['conversation_id']}").json()
    [turn] = kept["turns"]
    assert turn["answer"] == done["answer"] and turn["trace_id"] == done["trace_id"]
    assert turn["sources"][0]["filename"] == "hours.md" and turn["citations"] == done["citations"]
    [(owner,)] = sql(stack, "SELECT user_id FROM conversations WHERE id = :id", id=kept["id"])
    assert owner == sql(stack, "SELECT id FROM users WHERE name = 'admin'")[0][0]
