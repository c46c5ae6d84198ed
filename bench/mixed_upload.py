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

from cli.localstack import start_make_run
from tests.isolated.test_make_run import BAD, READABLE, mixed_files, upload_and_settle


def main() -> None:
    """Run it once and print the figures."""
    with tempfile.TemporaryDirectory(prefix="gptu-mixed-") as tmp:
        started = time.monotonic()
        run = start_make_run(Path(tmp) / "gptu")
        print(f"make run ready in {time.monotonic() - started:.1f} s")
        try:
            upload = mixed_files(Path(tmp))
            api = httpx.Client(base_url=run.url, timeout=120,
                               headers={"Authorization": f"Bearer {run.key}"})  # fmt: skip
            sent = time.monotonic()
            docs = upload_and_settle(api, "mixed", upload, 900)
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
