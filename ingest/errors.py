"""Ingestion errors: permanent ones fail the document with a reason, transient ones retry."""

from __future__ import annotations


class IngestError(Exception):
    """A permanent problem with a document; the message is shown to people as the reason."""


class UnsupportedDocument(IngestError):
    """The file type is not one gptu can read."""


class EncryptedDocument(IngestError):
    """The file needs a password."""


class EmptyDocument(IngestError):
    """The file has no extractable text."""


class CorruptDocument(IngestError):
    """The file is damaged or is not what its name says."""


class UnsafeDocument(IngestError):
    """The file looks like an attack (e.g. a decompression bomb)."""


class OcrLimitExceeded(IngestError):
    """The document needs more OCR (pages or time) than one document may have."""


class TransientIngestError(Exception):
    """A temporary problem (a service down); the task retries."""


def trimmed(exc: BaseException, limit: int = 200) -> str:
    """An exception's first line, shortened for a reason people read; its class if empty."""
    text = str(exc).strip()
    return text.splitlines()[0][:limit] if text else type(exc).__name__


def unexpected(exc: Exception, doing: str) -> IngestError:
    """A permanent reason for an error nobody foresaw while `doing` one file ("reading",
    "indexing"): what happened, the exception's class and message, and what to do."""
    if isinstance(exc, MemoryError):
        return IngestError(
            f"the worker ran out of memory {doing} this file: split it into smaller files, "
            "or give the worker more memory, then retry it"
        )
    return IngestError(
        f"{doing} this file failed with an unexpected error ({type(exc).__name__}: "
        f"{trimmed(exc)}); retry it, and if it fails again, save it in another format or "
        "report this message to your administrator"
    )
