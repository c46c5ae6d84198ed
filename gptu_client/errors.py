"""The client's exceptions: every refusal of the API carries its status and its error envelope."""

from __future__ import annotations

from typing import Any

import httpx


class GptuError(Exception):
    """Base of every error this client raises."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class ConnectionFailed(GptuError):
    """The API did not answer: wrong URL, server down, network or timeout."""


class APIError(GptuError):
    """The API refused the request with `{"error": {"code", "message"}}` and an HTTP status.

    `body` is the envelope as the API sent it (None when the answer was not JSON, e.g. a
    proxy's page); `retry_after` the seconds of its Retry-After header, if any.
    """

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        retry_after: float | None = None,
        body: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.retry_after = retry_after
        self.body = body

    def __str__(self) -> str:
        return f"{self.status} {self.code}: {self.message}"


class InvalidRequest(APIError):
    """400 or 422: the request is malformed or asks for something impossible."""


class Unauthorized(APIError):
    """401: no valid API key (unknown, revoked or expired)."""


class Forbidden(APIError):
    """403: the key's user may not do this."""


class NotFound(APIError):
    """404: it does not exist, or the key's user may not see it."""


class Conflict(APIError):
    """409: the request clashes with what exists."""


class TooLarge(APIError):
    """413: an uploaded file is over the server's size limit."""


class TooManyRequests(APIError):
    """429: too many wrong keys from this address; wait `retry_after` seconds."""


class Unavailable(APIError):
    """503: the model is busy or a service is down; try again after `retry_after` seconds."""


class StreamError(APIError):
    """An error event in the middle of a streamed answer (the response itself began 200)."""


BY_STATUS: dict[int, type[APIError]] = {
    400: InvalidRequest,
    401: Unauthorized,
    403: Forbidden,
    404: NotFound,
    409: Conflict,
    413: TooLarge,
    422: InvalidRequest,
    429: TooManyRequests,
    503: Unavailable,
}


def error_of(response: httpx.Response) -> APIError:
    """The exception for an error response (read already), from its JSON error envelope."""
    code, message = f"http_{response.status_code}", response.text.strip()[:500]
    try:
        body: Any = response.json()
    except ValueError:
        body = None
    if not isinstance(body, dict):
        body = None
    elif isinstance(body.get("error"), dict):
        code = str(body["error"].get("code") or code)
        message = str(body["error"].get("message") or message)
    wait = response.headers.get("retry-after")
    retry_after = float(wait) if wait and wait.isdigit() else None
    kind = BY_STATUS.get(response.status_code, APIError)
    return kind(response.status_code, code, message or response.reason_phrase, retry_after, body)
