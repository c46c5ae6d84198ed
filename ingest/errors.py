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
