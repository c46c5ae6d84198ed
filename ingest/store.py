"""Where the pipeline records a document's state: a small protocol the composition root implements.

The pipeline never touches SQL; `app.store.SqlDocumentStore` is the real implementation.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

# The stages a claimed document goes through, as its row shows them.
PARSING, OCR, EMBEDDING, INDEXING = "parsing", "ocr", "embedding", "indexing"


@dataclass(frozen=True)
class Job:
    """A document the pipeline has claimed: what to read and where its chunks belong."""

    document_id: str
    filename: str
    collection: str
    embedder: str
    path: Path
    attempt: int
    parse_as: str = ""  # the extension to parse as, when filename is a label (a source's item)

    @property
    def parse_name(self) -> str:
        """The name whose extension picks the parser."""
        return self.filename + self.parse_as


@dataclass(frozen=True)
class Outcome:
    """What reading a document produced."""

    pages: int
    chunks: int
    flagged: int = 0
    redacted: int = 0
    ocr_pages: int = 0


class DocumentStore(Protocol):
    """Document state: claimed (processing), then ready or failed with a reason."""

    def claim(self, document_id: str, holder: str) -> Job | None:
        """Mark a queued document processing by `holder` (a task id) and count the attempt;
        None when it is gone, done, or processing under another holder. The same holder takes
        its document again (its task redelivered after the worker was lost)."""
        ...

    def progress(self, document_id: str, stage: str, share: float) -> None:
        """Record where a claimed document is: its stage and the share of it done (0..1)."""
        ...

    def finish(self, document_id: str, outcome: Outcome) -> bool:
        """Mark the document ready with its counts; False when it was deleted meanwhile."""
        ...

    def fail(self, document_id: str, reason: str) -> None:
        """Mark the document failed, saying why."""
        ...

    def release(self, document_id: str, reason: str) -> None:
        """Put a claimed document back in the queue, uncounted: a service it needs was down,
        the attempt ended cleanly and will be retried (not a worker crash)."""
        ...

    def unsettled(self, document_ids: list[str]) -> list[str]:
        """Those of these documents that are still queued or processing."""
        ...
