"""Unrelated documents to search beside an eval set: others' rules, filings, manuals, notes.

`bench/eval.py --distractors N` puts N of them in collections of their own and asks each set's
questions across all collections at once, as the chat page does for a person who may read them
all. They come from this machine, nothing is downloaded, and none is about the eval sets:
- the US Department of Justice's handbook for Chapter 13 trustees (../shared/corpus, 872
  pages), eight paragraphs a document: rules with fees, days and amounts, like ours;
- a company's annual report on Form 10-K (../shared/corpus), in 1,500-character pieces;
- the module documentation of Python's standard library and installed packages, a module a
  document;
- the Debian packages' change logs and copyright notes (/usr/share/doc).
Taken in turn from each source until N are written.
"""

from __future__ import annotations

import ast
import gzip
import itertools
import sys
import sysconfig
from collections.abc import Iterator
from pathlib import Path

from lxml import html as lxml_html

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.conftest import CORPUS

PIECE = 1500


def trustee_handbook() -> Iterator[str]:
    """The DOJ handbook, eight paragraphs at a time."""
    import docx

    paragraphs = [p.text.strip() for p in docx.Document(str(CORPUS / "handbook-872p.docx"))
                  .paragraphs if p.text.strip()]  # fmt: skip
    for i in range(0, len(paragraphs), 8):
        yield "\n\n".join(paragraphs[i : i + 8])


def annual_report() -> Iterator[str]:
    """The 10-K's text in pieces."""
    tree = lxml_html.fromstring((CORPUS / "example-10k.html").read_bytes())
    text = " ".join(tree.text_content().split())
    for i in range(0, len(text), PIECE):
        yield text[i : i + PIECE]


def python_docs() -> Iterator[str]:
    """Each module's docstrings: the standard library's, then the installed packages'."""
    paths = sysconfig.get_paths()
    found = [*Path(paths["stdlib"]).rglob("*.py"), *Path(paths["purelib"]).rglob("*.py")]
    for path in sorted(found):
        if {"test", "tests"} & set(path.parts):
            continue
        try:
            tree = ast.parse(path.read_text(encoding="utf-8"))
        except (SyntaxError, ValueError, OSError):
            continue
        nodes = [tree, *(n for n in ast.walk(tree) if isinstance(
            n, ast.FunctionDef | ast.ClassDef | ast.AsyncFunctionDef))]  # fmt: skip
        docs = [ast.get_docstring(n) for n in nodes]
        text = "\n\n".join(d for d in docs if d)
        if len(text) > 300:
            yield f"Python module {path.stem}\n\n{text[:6000]}"


def debian_docs() -> Iterator[str]:
    """Change logs and copyright notes of the installed packages."""
    for path in sorted(Path("/usr/share/doc").rglob("*")):
        try:
            if path.name.endswith(".gz"):
                raw = gzip.decompress(path.read_bytes())
            elif path.name == "copyright" or path.name.startswith("README"):
                raw = path.read_bytes()
            else:
                continue
        except OSError:
            continue
        text = raw.decode("utf-8", "replace")[:4000]
        if len(text) > 300:
            yield f"{path.parent.name}: {path.name}\n\n{text}"


def write_distractors(folder: Path, count: int) -> list[Path]:
    """Write `count` documents into folder (fewer if the sources run out); their paths."""
    folder.mkdir(parents=True, exist_ok=True)
    sources = [trustee_handbook(), annual_report(), python_docs(), debian_docs()]
    written = []
    for n, text in enumerate(itertools.islice(roundrobin(sources), count)):
        path = folder / f"other-{n:05d}.txt"
        path.write_text(text, encoding="utf-8")
        written.append(path)
    return written


def roundrobin(sources: list[Iterator[str]]) -> Iterator[str]:
    """One text from each source in turn, skipping the ones that ran out."""
    live = list(sources)
    while live:
        for source in list(live):
            try:
                yield next(source)
            except StopIteration:
                live.remove(source)


if __name__ == "__main__":
    made = write_distractors(Path(sys.argv[1]), int(sys.argv[2]))
    print(f"{len(made)} documents written to {sys.argv[1]}")
