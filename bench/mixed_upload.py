"""A new user's mixed upload through `make run`: how many files end as they should, how fast.

Starts `make run` exactly as the README does (relative `data/`, default settings, the
Procfile) in a folder of its own on free ports, uploads real files of many formats in one
request (the corpus's readable ones, a Strict Open XML docx, an encrypted PDF, an encrypted
e-mail, an empty file, a PDF whose page tree nests 120 levels), waits until each is ready or
failed, and prints how many ended as expected: readable ones ready, bad ones failed with their
own reason. Issue 20 measured 11 of 21 this way.

Run: `.venv/bin/python bench/mixed_upload.py`.
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from cli.localstack import start_make_run, wait_until
from tests.conftest import CORPUS
from tests.isolated.test_make_run import BAD, READABLE
from tests.office import strict_copy
from tests.pdfs import deep_tree_pdf


def files(folder: Path) -> list[tuple[str, bytes]]:
    """The upload: readable corpus files, a Strict docx, then the bad ones."""
    chosen = [(name, (CORPUS / name).read_bytes()) for name in READABLE]
    strict = strict_copy(CORPUS / "docx-tables.docx", folder / "strict.docx")
    chosen.append(("strict-tables.docx", strict.read_bytes()))
    chosen += [(name, (CORPUS / name).read_bytes()) for name in BAD if name != "deep-tree.pdf"]
    return [*chosen, ("deep-tree.pdf", deep_tree_pdf(120, ["The depot opens at six."]))]


def main() -> None:
    """Run it once and print the figures."""
    with tempfile.TemporaryDirectory(prefix="gptu-mixed-") as tmp:
        started = time.monotonic()
        run = start_make_run(Path(tmp) / "gptu")
        print(f"make run ready in {time.monotonic() - started:.1f} s")
        try:
            upload = files(Path(tmp))
            api = httpx.Client(base_url=run.url, timeout=120,
                               headers={"Authorization": f"Bearer {run.key}"})  # fmt: skip
            api.post("/v1/collections", json={"name": "mixed"}).raise_for_status()
            sent = time.monotonic()
            api.post("/v1/documents", data={"collection": "mixed"},
                     files=[("file", item) for item in upload]).raise_for_status()  # fmt: skip
            docs: dict[str, dict] = {}

            def settled() -> bool:
                for doc in api.get("/v1/documents", params={"collection": "mixed"}).json():
                    if doc["status"] in ("ready", "failed"):
                        docs[doc["filename"]] = doc
                return len(docs) == len(upload)

            wait_until(settled, 900, "every file ready or failed")
            took = time.monotonic() - sent
        finally:
            run.stop()
    readable = [*READABLE, "strict-tables.docx"]
    good = [n for n in readable if docs[n]["status"] == "ready"]
    bad = [n for n, why in BAD.items() if docs[n]["status"] == "failed" and why in docs[n]["error"]]
    print(f"{len(good) + len(bad)} of {len(docs)} files ended as expected: "
          f"{len(good)}/{len(readable)} readable ready, {len(bad)}/{len(BAD)} bad failed with "
          f"their own reason; all settled {took:.1f} s after the upload "
          f"({len(docs) / took:.2f} files/s)")  # fmt: skip
    for name, doc in sorted(docs.items()):
        if name not in good and name not in bad:
            print(f"  unexpected: {name}: {doc['status']} {doc['error']}")


if __name__ == "__main__":
    main()
