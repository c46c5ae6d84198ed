"""The one passage record: a piece of a document as indexed, found, quoted, cited and served.

Indexes store it (with its vector), searches return it (with its scores), the answerer numbers
it for citation (`answer.rag.Source` adds the number), and the API serves it as it is.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class Passage(BaseModel):
    """A chunk of one document; its id is `<document_id>:<chunk>`."""

    model_config = ConfigDict(frozen=True)

    document_id: str
    chunk: int = Field(description="Position of the chunk in its document, from 0.")
    collection: str
    filename: str
    text: str
    page: int | None = None
    section: str | None = None
    score: float = Field(0.0, description="Rank score: fused RRF, or the one index's own score.")
    similarity: float | None = Field(None, description="Cosine similarity to the query.")
    lexical: float | None = Field(None, description="bm25 score of the query's words.")
    vector: list[float] = Field(default_factory=list, exclude=True, repr=False)
    # A passage joined from neighbouring chunks of several pages: (offset in text, page) where
    # each later page starts; empty for one chunk.
    page_starts: list[tuple[int, int]] = Field(default_factory=list, exclude=True, repr=False)

    def page_at(self, offset: int) -> int | None:
        """The page that the text at offset is on."""
        page = self.page
        for start, later in self.page_starts:
            if start <= offset:
                page = later
        return page

    @property
    def last_page(self) -> int | None:
        """The page its text ends on."""
        return self.page_starts[-1][1] if self.page_starts else self.page

    @property
    def id(self) -> str:
        """The deterministic chunk id."""
        return f"{self.document_id}:{self.chunk}"
