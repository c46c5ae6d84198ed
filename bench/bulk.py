"""Bulk import benchmark: many small files and one long text PDF, against the bare embedder.

In one run:
(a) the embedder alone, in this process with a worker's thread count, on the small files' texts;
(b) end to end through the API (a real stack, one worker): N one-paragraph .txt files uploaded
    as `gptu ingest` sends them (BATCH_FILES a request), until every one is ready or failed;
    documents/s and the ratio b/a;
(c) a 400-page text PDF (the shared handbook converted by LibreOffice, first 400 pages, made in
    a temporary folder) end to end: pages/s, and the bare embedder on the same chunks (read
    back from the lexical index) as the ceiling.
`--single` repeats (b) on a second stack with GPTU_BATCH_DOCUMENTS=1 (a task per file, as before).
`--make-run` adds (d): the README's configuration as a new user meets it: `make run` in a fresh
folder (relative data/, default settings, the Procfile), the same N files written to a folder
and imported with `gptu ingest <folder> --collection bulk --wait`; documents/s, and how often
the worker replaced a pool process for memory (each replacement reloads the models).

Run: `.venv/bin/python bench/bulk.py [--files 2000] [--single] [--no-pdf] [--make-run]`
(`--only-pdf`, `--only-make-run`: that part alone).
"""

from __future__ import annotations

import argparse
import random
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from cli.importer import BATCH_FILES
from cli.localstack import ROOT, Stack, stack_env, start_make_run, start_stack, wait_until
from core.offline import go_offline
from core.settings import Settings

HANDBOOK = ROOT.parent / "shared" / "corpus" / "handbook-872p.docx"
PDF_PAGES = 400
TEXT = (
    "the depot opens at weekdays and closes on saturdays staff must sign register before "
    "entering tools are returned to store each evening a supervisor checks the list of vans "
    "drivers report damage within one hour claims need a photo invoices are paid monthly "
    "holiday requests go to the team lead at least two weeks ahead overtime is approved in "
    "writing safety boots gloves and vests are worn in the yard visitors wait at reception"
)


def small_texts(n: int) -> list[str]:
    """n one-paragraph notes of 40-90 words (about 250-550 characters), all different."""
    rnd, words = random.Random(7), TEXT.split()
    texts = []
    for i in range(n):
        note = " ".join(rnd.choice(words) for _ in range(rnd.randint(40, 90)))
        texts.append(f"Note {i}: {note.capitalize()}.")
    return texts


def embedder() -> object:
    """The default embedder with a worker's thread count."""
    from ingest.embed import MiniLMEmbedder

    return MiniLMEmbedder(threads=Settings().threads_per_task(), batch_size=Settings().embed_batch)


def bare_seconds(texts: list[str]) -> float:
    """Seconds the embedder alone takes for these texts (one call, as a worker batches)."""
    model = embedder()
    model.embed(texts[:8])  # type: ignore[attr-defined]  # warm up
    started = time.perf_counter()
    model.embed(texts)  # type: ignore[attr-defined]
    return time.perf_counter() - started


def upload_all(stack: Stack, collection: str, files: list[tuple[str, bytes]]) -> dict[str, dict]:
    """Upload in requests of BATCH_FILES, wait until none is queued or processing; docs by id."""
    with stack.client() as api:
        api.post("/v1/collections", json={"name": collection}).raise_for_status()
        for start in range(0, len(files), BATCH_FILES):
            part = files[start : start + BATCH_FILES]
            answer = api.post(
                "/v1/documents",
                data={"collection": collection},
                files=[("file", (name, body)) for name, body in part],
            )
            answer.raise_for_status()

        def settled() -> bool:
            for state in ("queued", "processing"):
                left = api.get("/v1/documents", params={"collection": collection, "status": state})
                if left.json():
                    return False
            return True

        wait_until(settled, 7200, "ingestion")
        docs = api.get("/v1/documents", params={"collection": collection}).json()
    return {d["id"]: d for d in docs}


def small_files(n: int, workdir: Path, single: bool) -> None:
    """(a) and (b): the bare embedder and the stack on n small .txt files."""
    texts = small_texts(n)
    bare = bare_seconds(texts)
    print(f"(a) bare embedding, {n} texts, {Settings().threads_per_task()} threads: "
          f"{bare:.1f} s, {n / bare:.1f} documents/s")  # fmt: skip
    files = [(f"note-{i:05d}.txt", t.encode()) for i, t in enumerate(texts)]
    runs = [("batched", {})] + ([("one task per file", {"GPTU_BATCH_DOCUMENTS": "1"})] * single)
    for label, extra in runs:
        folder = Path(tempfile.mkdtemp(dir=workdir))
        stack = start_stack(folder, stack_env(folder, **extra))
        try:
            started = time.perf_counter()
            docs = upload_all(stack, "bulk", files)
            seconds = time.perf_counter() - started
        finally:
            stack.stop()
        ready = sum(d["status"] == "ready" for d in docs.values())
        rate = n / seconds
        print(f"(b) end to end, {label}: {n} files in {seconds:.1f} s, {rate:.1f} documents/s "
              f"({ready} ready); ratio to bare embedding {rate / (n / bare):.2f}")  # fmt: skip


def through_make_run(n: int, workdir: Path) -> None:
    """(d): `make run` and `gptu ingest` of n small files, as a new user would."""
    notes = workdir / "notes"
    notes.mkdir()
    for i, text in enumerate(small_texts(n)):
        (notes / f"note-{i:05d}.txt").write_text(text)
    run = start_make_run(workdir / "gptu")
    try:
        env = {**run_env(), "GPTU_API_URL": run.url, "GPTU_API_KEY": run.key}
        gptu = [sys.executable, "-m", "cli.main", "ingest", str(notes), "--collection", "bulk"]
        started = time.perf_counter()
        done = subprocess.run([*gptu, "--wait"], env=env, cwd=ROOT, capture_output=True, text=True)
        seconds = time.perf_counter() - started
    finally:
        run.stop()
    if done.returncode != 0:
        raise SystemExit(f"gptu ingest failed: {done.stdout[-500:]}{done.stderr[-500:]}")
    log = run.output.read_text(errors="replace")
    replaced = log.count("exceeding memory limit")
    print(f"(d) through make run and gptu ingest: {n} files in {seconds:.1f} s, "
          f"{n / seconds:.1f} documents/s; pool processes replaced for memory: "
          f"{replaced}")  # fmt: skip


def run_env() -> dict[str, str]:
    """This environment without the GPTU_ settings of whoever runs the bench."""
    import os

    return {k: v for k, v in os.environ.items() if not k.startswith("GPTU_")}


def make_pdf(workdir: Path) -> Path:
    """The first PDF_PAGES pages of the handbook as a text PDF (LibreOffice, then pypdf)."""
    from pypdf import PdfReader, PdfWriter

    soffice = shutil.which("soffice")
    if soffice is None:
        raise SystemExit("the PDF part needs LibreOffice: apt-get install libreoffice-writer-nogui")
    subprocess.run(
        [soffice, "--headless", "--convert-to", "pdf", "--outdir", str(workdir), str(HANDBOOK)],
        check=True,
        capture_output=True,
        timeout=600,
    )
    reader = PdfReader(workdir / (HANDBOOK.stem + ".pdf"))
    writer = PdfWriter()
    for page in reader.pages[:PDF_PAGES]:
        writer.add_page(page)
    out = workdir / f"handbook-{PDF_PAGES}p.pdf"
    writer.write(out)
    return out


def long_pdf(workdir: Path) -> None:
    """(c): the 400-page PDF end to end and the bare embedder on its chunks."""
    from ingest.lexical import LexicalIndex

    pdf = make_pdf(workdir)
    folder = Path(tempfile.mkdtemp(dir=workdir))
    stack = start_stack(folder, stack_env(folder))
    try:
        started = time.perf_counter()
        [doc] = upload_all(stack, "pdf", [(pdf.name, pdf.read_bytes())]).values()
        seconds = time.perf_counter() - started
    finally:
        stack.stop()
    if doc["status"] != "ready":
        raise SystemExit(f"the PDF failed: {doc['error']}")
    lexical = LexicalIndex(Settings(data_dir=stack.data_dir).lexical_path)
    texts = [p.text for p in lexical.passages(doc["id"])]
    bare = bare_seconds(texts)
    pages = doc["pages"]
    print(f"(c) {pages}-page text PDF end to end: {seconds:.1f} s, {pages / seconds:.1f} pages/s, "
          f"{len(texts)} chunks; bare embedding of its chunks {bare:.1f} s = "
          f"{pages / bare:.1f} pages/s (the ceiling); ratio {bare / seconds:.2f}")  # fmt: skip


def main() -> None:
    """Parse arguments, run the parts, print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=2000, help="small files to import")
    parser.add_argument("--single", action="store_true", help="also run a task per file")
    parser.add_argument("--no-pdf", action="store_true", help="skip the 400-page PDF")
    parser.add_argument("--make-run", action="store_true", help="also import through make run")
    parser.add_argument("--only-make-run", action="store_true", help="run (d) alone")
    parser.add_argument("--only-pdf", action="store_true", help="run (c) alone")
    args = parser.parse_args()
    go_offline()
    with tempfile.TemporaryDirectory(prefix="gptu-bulk-") as tmp:
        workdir = Path(tmp)
        if args.only_make_run:
            through_make_run(args.files, workdir)
            return
        if args.only_pdf:
            long_pdf(workdir)
            return
        small_files(args.files, workdir, args.single)
        if args.make_run:
            through_make_run(args.files, workdir)
        if not args.no_pdf:
            long_pdf(workdir)


if __name__ == "__main__":
    main()
