"""Every real-world file of ../shared/corpus ends ready or failed with a reason; none hangs."""

from __future__ import annotations

import shutil

import httpx
import pytest

from tests.conftest import CORPUS, upload, wait_done

pytestmark = pytest.mark.slow

# Slow, and read elsewhere: the e-book (44 s here, 438 chunks) by tests/unit/test_parse.py; the
# handbook and the 10-K (2.5 MB of HTML; HTML is read here in two other files) by bench/ingest.py.
LEFT_TO_BENCH = {"handbook-872p.docx", "winter-sports.epub", "example-10k.html"}
MUST_FAIL = {
    "password.pdf": "encrypted PDF: password required",
    "empty.txt": "empty file",
    "empty.xlsx": "no extractable text",
    "fake-encrypted.eml": "encrypted e-mail",
}


def test_whole_corpus_ends_ready_or_failed_with_reason(api: httpx.Client, collection: str) -> None:
    files = sorted(
        p for p in CORPUS.iterdir() if p.name not in LEFT_TO_BENCH and p.name != "MANIFEST.tsv"
    )
    assert len(files) >= 33
    items = upload(api, collection, [(p.name, p.read_bytes()) for p in files])
    docs = wait_done(api, [i["id"] for i in items], timeout=600)
    by_name = {d["filename"]: d for d in docs.values()}
    expected_failures = dict(MUST_FAIL)
    if not shutil.which("soffice"):
        expected_failures["fake-doc-emphasized-text.doc"] = "needs LibreOffice"
    for name, doc in by_name.items():
        if name in expected_failures:
            assert doc["status"] == "failed", doc
            assert expected_failures[name] in doc["error"], doc
        else:
            assert doc["status"] == "ready", doc
            assert doc["chunks"] >= 1 and doc["pages"] >= 1, doc
    assert by_name["reliance.pdf"]["pages"] == 3
    scan = by_name["MEDRPT-2024-PAT-3847_medical_report_scan.pdf"]  # image-only: read by OCR
    assert scan["pages"] == 3 and scan["ocr_pages"] == 3
    assert all(d["ocr_pages"] == 0 for n, d in by_name.items() if n != scan["filename"])
