"""The exception tree: every error a person may see carries an HTTP status and a stable code."""

from __future__ import annotations


class GptuError(Exception):
    """Base of gptu's errors; `status` and `code` become the JSON error envelope."""

    status = 500
    code = "internal_error"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class InvalidRequest(GptuError):
    """The request is malformed or asks for something impossible."""

    status = 400
    code = "invalid_request"


class Unauthorized(GptuError):
    """No valid API key came with the request."""

    status = 401
    code = "unauthorized"


class TooManyRequests(GptuError):
    """Too many failed attempts from one address; try again after `retry_after` seconds."""

    status = 429
    code = "too_many_requests"

    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class PermissionDenied(GptuError):
    """The caller is known but may not do this."""

    status = 403
    code = "forbidden"


class NotFound(GptuError):
    """The thing asked for does not exist."""

    status = 404
    code = "not_found"


class Conflict(GptuError):
    """The request clashes with what exists."""

    status = 409
    code = "conflict"


class PayloadTooLarge(GptuError):
    """An uploaded file is over the size limit."""

    status = 413
    code = "file_too_large"


class ServiceUnavailable(GptuError):
    """A backing service (Redis, Chroma, database) does not answer."""

    status = 503
    code = "service_unavailable"


class EmbedderMismatch(Conflict):
    """A collection was built with another embedder than the one running."""

    code = "embedder_mismatch"


class IndexUnavailable(ServiceUnavailable):
    """The vector index (the Chroma server) does not answer."""

    code = "index_unavailable"


class ModelBusy(ServiceUnavailable):
    """Every model slot stayed taken for the whole queue timeout."""

    code = "model_busy"


class ModelError(ServiceUnavailable):
    """The model could not be loaded or reached."""

    code = "model_unavailable"


class SchemaOutdated(ServiceUnavailable):
    """The database's schema is not the one this gptu needs: `gptu migrate` brings it there."""

    code = "schema_outdated"
