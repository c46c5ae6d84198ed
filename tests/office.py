"""Office files written at test time from the corpus's: a docx saved as Strict Open XML."""

from __future__ import annotations

import zipfile
from pathlib import Path

STRICT = {  # Transitional → Strict Open XML namespaces, as Word's "Strict Open XML" save writes
    b"http://schemas.openxmlformats.org/wordprocessingml/2006/main":
        b"http://purl.oclc.org/ooxml/wordprocessingml/main",
    b"http://schemas.openxmlformats.org/officeDocument/2006/relationships":
        b"http://purl.oclc.org/ooxml/officeDocument/relationships",
}  # fmt: skip


def strict_copy(source: Path, target: Path) -> Path:
    """The docx rewritten with Strict Open XML's namespaces."""
    with zipfile.ZipFile(source) as old, zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as new:
        for item in old.infolist():
            data = old.read(item.filename)
            if item.filename.endswith((".xml", ".rels")):
                for transitional, strict in STRICT.items():
                    data = data.replace(transitional, strict)
            new.writestr(item, data)
    return target
