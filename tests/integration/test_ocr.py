"""A scan uploaded through the API is read by OCR in the worker and its words are searchable."""

from __future__ import annotations

import io
import uuid
from pathlib import Path

import httpx

from tests.conftest import upload, wait_done
from tests.scans import image_pdf, text_page


def test_an_image_only_pdf_ends_ready_with_its_ocr_pages_searchable(
    api: httpx.Client, collection: str, tmp_path: Path
) -> None:
    # digits, which OCR reads back as they are, but with no leading 0: Tesseract reads this
    # scan's "08361383" as "0836 1383", a phone number to redaction, which hid it in CI
    # (31 codes without a 0 in front were read whole; spaces are not held against it below)
    code = str(10**7 + uuid.uuid4().int % (9 * 10**7))
    pages = [text_page(["Parking permit renewal form", f"Reference number {code}"]),
             text_page(["Permits are renewed every January", "at the front desk"])]  # fmt: skip
    scan = image_pdf(tmp_path / "scan.pdf", pages).read_bytes()
    [item] = upload(api, collection, [("permit-scan.pdf", scan)])
    doc = wait_done(api, [item["id"]])[item["id"]]
    assert doc["status"] == "ready", doc
    assert doc["pages"] == 2 and doc["ocr_pages"] == 2 and doc["chunks"] >= 1
    hits = api.post("/v1/search", json={"query": code, "collections": [collection], "k": 3}).json()[
        "results"
    ]
    assert hits and hits[0]["document_id"] == item["id"]
    assert code in "".join(hits[0]["text"].split()), hits[0]["text"]
    assert hits[0]["page"] == 1

    image = io.BytesIO()
    text_page(["Fire exits are on every floor"]).save(image, "PNG")
    [png] = upload(api, collection, [("notice.png", image.getvalue())])
    done = wait_done(api, [png["id"]])[png["id"]]
    assert done["status"] == "ready" and done["ocr_pages"] == 1, done
