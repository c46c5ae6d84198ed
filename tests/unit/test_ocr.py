"""OCR of scans and images with the real Tesseract, on pages drawn at test time and a real scan."""

from __future__ import annotations

import io
import socket
import struct
import zlib
from collections.abc import Iterator
from pathlib import Path

import pypdfium2
import pytest
from PIL import Image

from ingest.errors import (
    CorruptDocument,
    EmptyDocument,
    OcrLimitExceeded,
    UnsafeDocument,
    UnsupportedDocument,
)
from ingest.ocr import Ocr, OcrEngine, Tesseract
from ingest.parse import Parsed, parse_file
from tests.conftest import CORPUS
from tests.scans import image_pdf, text_page, words

LIMIT = 1 << 30
INVOICE = ["Invoice 4711 for the depot", "Harrison paid ninety euros"]
MINUTES = ["Minutes of the board meeting", "Budget approved for seventeen vans"]
TESSERACT = Tesseract()  # loaded once for the module's tests, as a worker keeps it


@pytest.fixture
def ocr() -> Ocr:
    """OCR with the default engine and a generous limit."""
    return Ocr(TESSERACT)


class Recording:
    """An engine that passes pages to a real one and counts them."""

    def __init__(self, engine: OcrEngine) -> None:
        self.name, self.engine, self.pages = engine.name, engine, 0

    def read(self, image: Image.Image, dpi: int) -> list[str]:
        """Count, then read."""
        self.pages += 1
        return self.engine.read(image, dpi)


def text_of(parsed: Parsed) -> str:
    """All the text of a parse result."""
    return "\n".join(b.text for b in parsed.blocks)


def in_page_order(parsed: Parsed) -> bool:
    """Whether the blocks come page by page."""
    pages = [b.page or 0 for b in parsed.blocks]
    return pages == sorted(pages)


@pytest.mark.parametrize("ext", [".png", ".jpg", ".jpeg"])
def test_an_image_is_read_by_ocr(ext: str, ocr: Ocr, tmp_path: Path) -> None:
    path = tmp_path / "0123abcd"  # stored without an extension, as data/files/<sha256>
    text_page(INVOICE).save(path, "PNG" if ext == ".png" else "JPEG", quality=85)
    parsed = parse_file(path, f"receipt{ext}", LIMIT, ocr)
    assert {"invoice", "4711", "depot", "harrison", "ninety"} <= words(text_of(parsed))
    assert parsed.pages == 1 and parsed.ocr_pages == 1
    assert {b.page for b in parsed.blocks} == {1}


def test_each_page_of_a_tiff_is_read_with_its_number(ocr: Ocr, tmp_path: Path) -> None:
    path = tmp_path / "scan"
    first, second = text_page(INVOICE), text_page(MINUTES)
    first.save(path, "TIFF", save_all=True, append_images=[second], compression="tiff_lzw")
    shares: list[float] = []
    parsed = parse_file(path, "fax.tiff", LIMIT, ocr, shares.append)
    assert parsed.pages == 2 and parsed.ocr_pages == 2
    by_page = {p: words(" ".join(b.text for b in parsed.blocks if b.page == p)) for p in (1, 2)}
    assert "invoice" in by_page[1] and "minutes" not in by_page[1]
    assert {"minutes", "board", "seventeen"} <= by_page[2]
    assert shares == [0.0, 0.5, 1.0]


def test_a_scanned_pdf_is_read_page_by_page(ocr: Ocr, tmp_path: Path) -> None:
    path = image_pdf(tmp_path / "scan", [text_page(INVOICE), text_page(MINUTES)])
    shares: list[float] = []
    parsed = parse_file(path, "scan.pdf", LIMIT, ocr, shares.append)
    assert parsed.pages == 2 and parsed.ocr_pages == 2
    assert {"invoice", "4711", "minutes", "seventeen"} <= words(text_of(parsed))
    assert in_page_order(parsed)
    assert shares == [0.0, 0.5, 1.0]


def test_a_mixed_pdf_ocrs_only_its_pages_without_text(tmp_path: Path) -> None:
    scan = pypdfium2.PdfDocument(
        image_pdf(tmp_path / "s", [text_page(INVOICE), text_page(MINUTES)])
    )
    memo = pypdfium2.PdfDocument(CORPUS / "fake-memo.pdf")  # a page with a text layer
    mixed = pypdfium2.PdfDocument.new()
    mixed.import_pages(scan, [0])
    mixed.import_pages(memo, [0])
    mixed.import_pages(scan, [1])
    mixed.save(tmp_path / "mixed")
    engine = Recording(TESSERACT)
    parsed = parse_file(tmp_path / "mixed", "mixed.pdf", LIMIT, Ocr(engine))
    assert parsed.pages == 3 and parsed.ocr_pages == 2 and engine.pages == 2
    assert in_page_order(parsed) and {b.page for b in parsed.blocks} == {1, 2, 3}
    page = {p: words(" ".join(b.text for b in parsed.blocks if b.page == p)) for p in (1, 2, 3)}
    assert "invoice" in page[1] and "bottles" in page[2] and "minutes" in page[3]


def test_pages_read_in_parallel_come_back_in_order(tmp_path: Path) -> None:
    pages = [text_page([f"Rota page {n}", f"{n * 1111} vans"]) for n in range(1, 6)]
    path = image_pdf(tmp_path / "scan", pages)
    shares: list[float] = []
    parsed = parse_file(path, "rota.pdf", LIMIT, Ocr(TESSERACT, threads=2), shares.append)
    assert in_page_order(parsed)
    for n in range(1, 6):
        assert f"{n * 1111}" in words(" ".join(b.text for b in parsed.blocks if b.page == n))
    assert shares == [0.0, 0.2, 0.4, 0.6, 0.8, 1.0]


def test_the_corpus_scan_gives_its_words(ocr: Ocr) -> None:
    name = "MEDRPT-2024-PAT-3847_medical_report_scan.pdf"
    parsed = parse_file(CORPUS / name, name, LIMIT, ocr)
    assert parsed.pages == 3 and parsed.ocr_pages == 3
    found = words(text_of(parsed))
    assert {"seattle", "hospital", "harrison", "metformin", "hypertension", "examination",
            "treatment", "sumatriptan"} <= found  # fmt: skip
    assert {b.page for b in parsed.blocks} == {1, 2, 3}


@pytest.mark.parametrize(
    ("name", "content"),
    [
        ("photo.png", "truncated"),
        ("photo.jpg", "truncated"),
        ("scan.tiff", "truncated"),
        ("photo.png", "random"),
        ("photo.jpeg", "random"),
        ("scan.tif", "random"),
    ],
)
def test_a_corrupt_image_fails_with_a_reason(
    name: str, content: str, ocr: Ocr, tmp_path: Path
) -> None:
    kind = {"png": "PNG", "jpg": "JPEG", "jpeg": "JPEG", "tif": "TIFF", "tiff": "TIFF"}
    buffer = io.BytesIO()
    text_page(INVOICE).save(buffer, kind[name.rsplit(".", 1)[1]])
    whole = buffer.getvalue()
    path = tmp_path / "x"
    path.write_bytes(whole[: len(whole) // 3] if content == "truncated" else b"\x13\x37" * 900)
    with pytest.raises(CorruptDocument, match=f"damaged {kind[name.rsplit('.', 1)[1]]} image"):
        parse_file(path, name, LIMIT, ocr)


def png_chunk(kind: bytes, data: bytes) -> bytes:
    """A PNG chunk: length, type, data, CRC."""
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def test_an_image_of_too_many_pixels_is_refused_before_decoding(ocr: Ocr, tmp_path: Path) -> None:
    path = tmp_path / "x"
    Image.new("1", (12_000, 12_000), 1).save(path, "PNG")
    assert path.stat().st_size < 1 << 20
    with pytest.raises(UnsafeDocument, match="144 megapixels; the limit is 89"):
        parse_file(path, "poster.png", LIMIT, ocr)
    grey = struct.pack(">IIBBBBB", 50_000, 50_000, 8, 0, 0, 0, 0)  # 2.5 gigapixels, 8-bit grey
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", grey)
                     + png_chunk(b"IDAT", zlib.compress(b"\0" * 1000)))  # fmt: skip
    with pytest.raises(UnsafeDocument, match="more than 89 megapixels"):
        parse_file(path, "bomb.png", LIMIT, ocr)


def test_a_blank_scan_says_ocr_found_no_text(ocr: Ocr, tmp_path: Path) -> None:
    path = image_pdf(tmp_path / "scan", [Image.new("L", (600, 800), 255)] * 2)
    with pytest.raises(EmptyDocument, match="OCR found none on its 2 pages"):
        parse_file(path, "blank.pdf", LIMIT, ocr)


def test_without_ocr_scans_and_images_say_so(tmp_path: Path) -> None:
    path = image_pdf(tmp_path / "scan", [text_page(INVOICE)])
    with pytest.raises(EmptyDocument, match=r"no text layer .* OCR is turned off"):
        parse_file(path, "scan.pdf", LIMIT)
    text_page(INVOICE).save(tmp_path / "p", "PNG")
    with pytest.raises(UnsupportedDocument, match="needs OCR"):
        parse_file(tmp_path / "p", "receipt.png", LIMIT)


def test_too_many_pages_fail_before_any_ocr(tmp_path: Path) -> None:
    path = image_pdf(tmp_path / "scan", [text_page(INVOICE)] * 3)
    engine = Recording(TESSERACT)
    with pytest.raises(OcrLimitExceeded, match="needs OCR on 3 pages, more than the limit of 2"):
        parse_file(path, "scan.pdf", LIMIT, Ocr(engine, max_pages=2))
    assert engine.pages == 0


def test_a_scan_that_cannot_finish_in_time_stops_saying_why(tmp_path: Path) -> None:
    path = image_pdf(tmp_path / "scan", [text_page(INVOICE)] * 8)
    ticks = iter(range(0, 1000, 10))  # each page takes ten seconds by this clock
    engine = Recording(TESSERACT)
    with pytest.raises(
        OcrLimitExceeded, match=r"80 s for 8 pages .* over the 60 s limit .*stopped after 3 pages"
    ):
        limited = Ocr(engine, time_limit=60, clock=lambda: next(ticks), threads=1)
        parse_file(path, "scan.pdf", LIMIT, limited)
    assert engine.pages == 3  # 3 pages in 30 s: 8 would take 80 s, over the limit: stop early


@pytest.fixture
def no_network(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[object]]:
    """Make every outgoing connection fail, and record the attempts."""
    attempts: list[object] = []

    def refuse(self: socket.socket, address: object) -> None:
        attempts.append(address)
        raise OSError("network unreachable (test)")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)
    yield attempts


def test_tesseract_reads_offline_with_the_model_its_package_ships(
    no_network: list[object], tmp_path: Path
) -> None:
    text_page(INVOICE).save(tmp_path / "p", "PNG")
    engine = Tesseract()  # a fresh one: its model is loaded while the network is unreachable
    parsed = parse_file(tmp_path / "p", "receipt.png", LIMIT, Ocr(engine))
    assert {"invoice", "4711", "depot"} <= words(text_of(parsed))
    assert no_network == []
