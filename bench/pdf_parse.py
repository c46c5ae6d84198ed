"""PDF reading benchmark: pdfium (ingest.pdftext, what gptu runs) against unstructured's "fast"
strategy (pdfminer, what it ran before), on every text PDF of ../shared/corpus, the third-party
eval handbook and a 400-page text PDF, measured in one run.

Per file: seconds and pages/s of each; how much of the old reading's words the new one keeps
(multiset recall, and the reverse: the new words the old did not have, such as a line pdfminer
dropped); pages with text in each; section titles, list items and blocks in each. Running
headers and footers are left out by pdfium's reading on purpose: the recall counts them lost.

Run: `.venv/bin/python bench/pdf_parse.py [--no-long]`.
"""

from __future__ import annotations

import argparse
import re
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from cli.localstack import ROOT
from core.offline import go_offline

CORPUS = ROOT.parent / "shared" / "corpus"
EVAL_PDFS = sorted((ROOT / "tests" / "eval" / "handbooks").glob("*.pdf"))
WORD = re.compile(r"\w+")
ITEM = re.compile(r"^(\(?\d{1,3}[.)]|\(?[a-zA-Z][.)])\s")


def text_pdfs() -> list[Path]:
    """The corpus's PDFs that have a text layer and open without a password."""
    from ingest.parse import pdf_pages

    found = []
    for path in sorted(CORPUS.glob("*.pdf")) + EVAL_PDFS:
        try:
            pdf_pages(path)
        except Exception:  # the encrypted one: refused before any reading
            continue
        found.append(path)
    return found


def read_both(path: Path) -> dict[str, tuple[list, float]]:
    """The blocks of each reading and its seconds."""
    from ingest.parse import partition, pdf_blocks, to_blocks

    started = time.perf_counter()
    old = to_blocks(partition(path, ".pdf"))
    middle = time.perf_counter()
    new = pdf_blocks(path, None)
    return {"old": (old, middle - started), "new": (new, time.perf_counter() - middle)}


def words(blocks: list) -> Counter[str]:
    """The lower-case words of the blocks, counted."""
    return Counter(w for b in blocks for w in WORD.findall(b.text.lower()))


def compare(path: Path, pages: int) -> dict[str, float]:
    """The figures of one file."""
    both = read_both(path)
    (old, old_s), (new, new_s) = both["old"], both["new"]
    old_words, new_words = words(old), words(new)
    kept = sum((old_words & new_words).values())
    return {
        "pages": pages,
        "old_s": old_s,
        "new_s": new_s,
        "recall": kept / max(1, sum(old_words.values())),
        "added": 1 - kept / max(1, sum(new_words.values())),
        "old_pages": len({b.page for b in old}),
        "new_pages": len({b.page for b in new}),
        "old_titles": len({b.section for b in old if b.section}),
        "new_titles": len({b.section for b in new if b.section}),
        "old_items": sum(bool(ITEM.match(b.text)) for b in old),
        "new_items": sum(bool(ITEM.match(b.text)) for b in new),
        "old_blocks": len(old),
        "new_blocks": len(new),
    }


def long_pdf(workdir: Path) -> Path:
    """The 400-page text PDF of bench/bulk.py."""
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from bulk import make_pdf

    return make_pdf(workdir)


def main() -> None:
    """Read each PDF both ways and print a table."""
    from ingest.parse import pdf_pages

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--no-long", action="store_true", help="skip the 400-page PDF")
    args = parser.parse_args()
    go_offline()
    with tempfile.TemporaryDirectory(prefix="gptu-pdf-") as tmp:
        files = text_pdfs() + ([] if args.no_long else [long_pdf(Path(tmp))])
        print(
            "| file | pages | pdfminer s | pdfium s | speed-up | words kept | words added "
            "| pages with text old/new | titles old/new | list items old/new "
            "| blocks old/new |"
        )
        print("|---|---|---|---|---|---|---|---|---|---|---|")
        totals: Counter[str] = Counter()
        for path in files:
            f = compare(path, pdf_pages(path))
            totals.update({k: v for k, v in f.items() if k in {"pages", "old_s", "new_s"}})
            print(f"| {path.name} | {f['pages']} | {f['old_s']:.2f} | {f['new_s']:.2f} "
                  f"| {f['old_s'] / max(f['new_s'], 1e-3):.0f}x | {f['recall']:.1%} "
                  f"| {f['added']:.1%} | {f['old_pages']}/{f['new_pages']} "
                  f"| {f['old_titles']}/{f['new_titles']} | {f['old_items']}/{f['new_items']} "
                  f"| {f['old_blocks']}/{f['new_blocks']} |")  # fmt: skip
        print(f"all {totals['pages']:.0f} pages: pdfminer {totals['pages'] / totals['old_s']:.1f} "
              f"pages/s, pdfium {totals['pages'] / totals['new_s']:.1f} pages/s")  # fmt: skip


if __name__ == "__main__":
    main()
