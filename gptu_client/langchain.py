"""`GptuRetriever`: gptu's hybrid search as a LangChain retriever (needs langchain-core).

It searches with the caller's own API key, so the server filters by that user's collections
inside the query: a chain sees exactly the passages its user may read.
"""

from __future__ import annotations

from typing import Any

from langchain_core.callbacks import (
    AsyncCallbackManagerForRetrieverRun,
    CallbackManagerForRetrieverRun,
)
from langchain_core.documents import Document
from langchain_core.retrievers import BaseRetriever
from pydantic import Field, SecretStr

from gptu_client.client import AsyncGptu, Gptu
from gptu_client.models import Passage


def document_of(passage: Passage) -> Document:
    """A LangChain document: the passage's text, and where it comes from as metadata."""
    metadata: dict[str, Any] = {
        "source": passage.filename,
        "filename": passage.filename,
        "page": passage.page,
        "section": passage.section,
        "collection": passage.collection,
        "document_id": passage.document_id,
        "chunk": passage.chunk,
        "score": passage.score,
        "similarity": passage.similarity,
        "lexical": passage.lexical,
    }
    return Document(id=passage.id, page_content=passage.text, metadata=metadata)


class GptuRetriever(BaseRetriever):
    """Passages from gptu (vector and lexical search fused), best first, as the key's user.

    `GptuRetriever(url="http://127.0.0.1:8000", key="gptu_…", collections=["handbook"], k=4)`;
    url and key default to GPTU_API_URL and GPTU_API_KEY. A refusal raises the client's typed
    exception (`gptu_client.Unauthorized` for a bad key).
    """

    url: str | None = Field(None, description="The gptu API; default GPTU_API_URL.")
    key: SecretStr | None = Field(None, description="An API key; default GPTU_API_KEY.")
    collections: list[str] | None = Field(
        None, description="Collections to search; default every one the key's user may read."
    )
    k: int = Field(4, ge=1, le=100, description="Passages to return.")
    timeout: float = Field(60.0, gt=0, description="Seconds to wait for the API.")

    def secret(self) -> str | None:
        """The key, revealed only to sign the request."""
        return self.key.get_secret_value() if self.key is not None else None

    def _get_relevant_documents(
        self, query: str, *, run_manager: CallbackManagerForRetrieverRun
    ) -> list[Document]:
        with Gptu(self.url, self.secret(), timeout=self.timeout) as gptu:
            found = gptu.search(query, k=self.k, collections=self.collections)
        return [document_of(p) for p in found]

    async def _aget_relevant_documents(
        self, query: str, *, run_manager: AsyncCallbackManagerForRetrieverRun
    ) -> list[Document]:
        async with AsyncGptu(self.url, self.secret(), timeout=self.timeout) as gptu:
            found = await gptu.search(query, k=self.k, collections=self.collections)
        return [document_of(p) for p in found]
