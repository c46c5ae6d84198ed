"""gptu_client and its LangChain retriever against the stack: typed answers, the permission
matrix (tests/world.py), the API's refusals as typed exceptions, and README's LangChain example.

Answers come from the echoing API, so they show which passages reached the model.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from gptu_client import (
    AsyncGptu,
    Done,
    Gptu,
    NotFound,
    Quotes,
    Sources,
    Token,
    Unauthorized,
)
from gptu_client.langchain import GptuRetriever
from tests.conftest import WRONG_KEY, Stack, readme_block
from tests.world import ALLOWED, QUESTION, USERS, World


def test_the_client_sees_what_its_key_may_see(world: World) -> None:
    mine = {world.collections[s] for s in ALLOWED["alice"]}
    with Gptu(world.echo_url, world.keys["alice"]) as alice:
        me = alice.me()
        assert me.name == f"alice-{world.tag}" and f"hr-{world.tag}" in me.groups
        assert {c.name for c in alice.list_collections() if world.ours(c.name)} == mine
        listed = {d.filename for d in alice.list_documents()}
        assert listed & set(world.files.values()) == {world.files[s] for s in ALLOWED["alice"]}
        hr = alice.get_document(world.documents["hr"])
        expected = ("ready", world.collections["hr"], world.files["hr"])
        assert (hr.status, hr.collection, hr.filename) == expected
        assert hr.chunks >= 1 and hr.created_at is not None and hr.created_at.tzinfo is not None
        with pytest.raises(NotFound) as hidden:
            alice.get_document(world.documents["eng"])
        assert hidden.value.status == 404 and hidden.value.code == "not_found"
        with pytest.raises(NotFound):
            alice.search(QUESTION, collections=[world.collections["eng"]])
        found = alice.search(QUESTION, k=50)
        assert world.phrases(" ".join(p.text for p in found)) == ALLOWED["alice"]
        answer = alice.chat(QUESTION, k=10, save=False)
        assert world.phrases(answer.answer) == ALLOWED["alice"] and answer.conversation_id is None
        assert world.phrases(" ".join(s.text for s in answer.sources)) == ALLOWED["alice"]
        assert answer.trace_id and all(s.n == i for i, s in enumerate(answer.sources, start=1))


def test_the_streamed_answer_arrives_as_typed_events_in_order(world: World) -> None:
    with Gptu(world.echo_url, world.keys["bob"]) as bob:
        events = list(bob.chat_stream(QUESTION, k=10))
    kinds = [type(e) for e in events]
    assert kinds[:2] == [Sources, Quotes] and kinds[-1] is Done
    assert set(kinds[2:-1]) == {Token}
    streamed = "".join(e.text for e in events if isinstance(e, Token))
    assert world.phrases(streamed) == ALLOWED["bob"]
    done = events[-1]
    assert isinstance(done, Done) and done.trace_id and done.conversation_id
    with Gptu(world.echo_url, world.keys["bob"]) as bob:
        follow_up = bob.chat("Who wrote the review?", conversation_id=done.conversation_id)
    assert follow_up.conversation_id == done.conversation_id


def test_uploads_wait_and_deletes_through_the_client(world: World, tmp_path: Path) -> None:
    note = tmp_path / "client-note.md"
    note.write_text("# Note\n\nThe client's parking code is TEAL-GECKO-77.\n")
    name = f"carols-{world.tag}"
    with Gptu(world.echo_url, world.keys["carol"]) as carol:
        made = carol.create_collection(name)
        assert made.access.manage and made.readers == [f"user:carol-{world.tag}"]
        [accepted] = carol.upload(name, [note])
        assert (accepted.filename, accepted.status) == ("client-note.md", "queued")
        [done] = carol.wait_for([accepted.id], timeout=120)
        assert done.status == "ready" and done.chunks == 1
        [hit] = carol.search("parking code", collections=[name])
        assert "TEAL-GECKO-77" in hit.text and hit.document_id == accepted.id
        assert [d.id for d in carol.list_documents(collection=name, limit=1)] == [accepted.id]
        carol.delete_document(accepted.id)
        assert carol.list_documents(collection=name) == []


def test_the_async_client_and_a_bad_key(world: World) -> None:
    async def run() -> None:
        async with AsyncGptu(world.echo_url, world.keys["carol"]) as carol:
            found = await carol.search(QUESTION, k=50)
            assert world.phrases(" ".join(p.text for p in found)) == ALLOWED["carol"]
            events = [e async for e in carol.chat_stream(QUESTION, k=10)]
            assert isinstance(events[0], Sources) and isinstance(events[-1], Done)
        async with AsyncGptu(world.echo_url, WRONG_KEY) as stranger:
            with pytest.raises(Unauthorized) as refused:
                [e async for e in stranger.chat_stream(QUESTION)]
        assert (refused.value.status, refused.value.code) == (401, "unauthorized")

    asyncio.run(run())


@pytest.mark.parametrize("user", USERS)
def test_the_retriever_returns_only_what_its_key_may_read(
    stack: Stack, world: World, user: str
) -> None:
    retriever = GptuRetriever(url=stack.api_url, key=world.keys[user], k=50)
    for docs in (retriever.invoke(QUESTION), asyncio.run(retriever.ainvoke(QUESTION))):
        mine = [d for d in docs if world.ours(d.metadata["collection"])]
        assert world.phrases(" ".join(d.page_content for d in mine)) == ALLOWED[user]
        for doc in mine:
            short = doc.metadata["collection"].removesuffix(f"-{world.tag}")
            assert doc.metadata["document_id"] == world.documents[short]
            assert doc.metadata["filename"] == doc.metadata["source"] == world.files[short]
            assert doc.id == f"{world.documents[short]}:{doc.metadata['chunk']}"
            assert doc.metadata["score"] > 0 and "page" in doc.metadata
    hidden = {"alice": "eng", "bob": "hr", "carol": "eng"}[user]
    narrowed = GptuRetriever(url=stack.api_url, key=world.keys[user], k=5,
                             collections=[world.collections[hidden]])  # fmt: skip
    with pytest.raises(NotFound):
        narrowed.invoke(QUESTION)


def test_a_bad_key_is_refused_with_the_apis_401(stack: Stack) -> None:
    with pytest.raises(Unauthorized) as plain, Gptu(stack.api_url, WRONG_KEY) as stranger:
        stranger.search(QUESTION)
    with pytest.raises(Unauthorized) as chained:
        GptuRetriever(url=stack.api_url, key=WRONG_KEY).invoke(QUESTION)
    for raised in (plain, chained):
        assert (raised.value.status, raised.value.code) == (401, "unauthorized")
        assert raised.value.body == {
            "error": {"code": "unauthorized", "message": "invalid or revoked API key"}
        }


def test_the_readme_langchain_example_runs(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GPTU_API_URL", world.echo_url)
    monkeypatch.setenv("GPTU_API_KEY", world.keys["alice"])
    example = readme_block("langchain-example", "python")
    namespace: dict[str, object] = {}
    exec(compile(example, "README.md (LangChain example)", "exec"), namespace)
    docs, answer = namespace["docs"], namespace["answer"]
    assert isinstance(answer, str) and isinstance(docs, list)
    assert world.phrases(answer) and world.phrases(answer) <= ALLOWED["alice"]
    assert world.phrases(" ".join(d.page_content for d in docs)) <= ALLOWED["alice"]
