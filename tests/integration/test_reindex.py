"""`gptu reindex`: a collection moves to another embedder while search keeps answering."""

from __future__ import annotations

import subprocess

import httpx

from app.reindex import reindex
from app.services import build_services
from ingest.embed import embedder_id
from tests.conftest import GPTU, ROOT, Stack, stack_settings, upload, wait_done

MINILM, BGE = embedder_id("minilm"), embedder_id("bge-small")
TRAVEL = (
    b"# Travel policy 2023\n\n## Cars\n\nPrivate cars driven on business are refunded at "
    b"0.39 EUR per kilometre.\n\n## Hotels\n\nA hotel night may cost up to 150 EUR.\n"
)
PARKING = b"# Parking\n\nStaff park in the north car park; visitors use the south one.\n"
LEAVE = b"# Leave\n\nEvery employee gets 27 days of paid annual leave.\n"


def best_file(api: httpx.Client, collection: str, query: str) -> str:
    """The file of the best search hit."""
    found = api.post("/v1/search", json={"query": query, "collections": [collection]})
    assert found.status_code == 200, found.text
    results = found.json()["results"]
    assert results, query
    return str(results[0]["filename"])


def test_reindex_to_bge_small_and_back_while_search_answers(
    api: httpx.Client, collection: str, stack: Stack
) -> None:
    items = upload(api, collection, [("travel-policy-2023.md", TRAVEL), ("parking.md", PARKING)])
    docs = wait_done(api, [i["id"] for i in items])
    assert all(d["status"] == "ready" for d in docs.values()), docs
    assert api.get(f"/v1/collections/{collection}").json()["embedder"] == MINILM
    settings = stack_settings(stack)
    services = build_services(settings, threads=1)
    during: list[str] = []

    def answers_meanwhile(line: str) -> None:
        assert api.get(f"/v1/collections/{collection}").json()["embedder"] == MINILM
        assert best_file(api, collection, "mileage refund per km") == "travel-policy-2023.md"
        during.append(line)

    done = reindex(services, collection, "bge-small", progress=answers_meanwhile)
    assert len(during) == 2 and (done.before, done.after, done.documents) == (MINILM, BGE, 2)
    assert api.get(f"/v1/collections/{collection}").json()["embedder"] == BGE
    assert best_file(api, collection, "mileage refund per km") == "travel-policy-2023.md"
    names = {c.name for c in services.vectors.client.list_collections()}
    assert services.vectors.space(MINILM).chroma_name(collection) not in names
    chunks = sum(d["chunks"] for d in docs.values())
    assert services.vectors.space(BGE).handle(collection).count() == chunks

    [leave] = upload(api, collection, [("leave.md", LEAVE)])  # the worker embeds it with bge
    assert wait_done(api, [leave["id"]])[leave["id"]]["status"] == "ready"
    assert best_file(api, collection, "how many days of annual leave") == "leave.md"
    assert services.vectors.space(BGE).handle(collection).count() == chunks + 1

    back = subprocess.run([*GPTU, "reindex", collection, "--embedder", "minilm"], env=stack.env,
                          cwd=ROOT, capture_output=True, text=True, timeout=300)  # fmt: skip
    assert back.returncode == 0, back.stderr
    assert f"3 documents, {chunks + 1} chunks re-embedded {BGE} → {MINILM}" in back.stdout
    assert api.get(f"/v1/collections/{collection}").json()["embedder"] == MINILM
    assert best_file(api, collection, "mileage refund per km") == "travel-policy-2023.md"
    assert best_file(api, collection, "how many days of annual leave") == "leave.md"
    again = subprocess.run([*GPTU, "reindex", collection, "--embedder", "minilm"], env=stack.env,
                           cwd=ROOT, capture_output=True, text=True, timeout=300)  # fmt: skip
    assert again.returncode == 0 and "nothing to do" in again.stdout
    unknown = subprocess.run([*GPTU, "reindex", "no-such-collection"], env=stack.env, cwd=ROOT,
                             capture_output=True, text=True, timeout=300)  # fmt: skip
    assert unknown.returncode == 1 and "does not exist" in unknown.stderr
