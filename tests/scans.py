"""Scans made at test time: pages of text drawn by Pillow, saved as images or image-only PDFs."""

from __future__ import annotations

import re
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont


def text_page(lines: list[str], size: tuple[int, int] = (1100, 360)) -> Image.Image:
    """A white greyscale page with the lines in black, about 150 dpi print size."""
    page = Image.new("L", size, 255)
    draw, font = ImageDraw.Draw(page), ImageFont.load_default(size=34)
    for n, line in enumerate(lines):
        draw.text((40, 40 + 60 * n), line, fill=0, font=font)
    return page


def image_pdf(path: Path, pages: list[Image.Image]) -> Path:
    """An image-only PDF (no text layer), one image a page, as a scanner makes them."""
    pages[0].save(path, "PDF", resolution=150, save_all=True, append_images=pages[1:])
    return path


def words(text: str) -> set[str]:
    """The case-folded words and numbers of a text."""
    return set(re.findall(r"[a-z0-9]+", text.lower()))
