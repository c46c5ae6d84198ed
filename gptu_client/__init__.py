"""The Python client of the gptu v1 API: needs only httpx, never the server's packages.

`Gptu` and `AsyncGptu` sign in with one API key and see what its user may see; the API's
refusals arrive as typed exceptions carrying the error envelope. Beside them, two optional
adapters: `gptu_client.langchain` (a LangChain retriever; needs langchain-core) and
`gptu_client.mcp` (the MCP tools search, ask and list_collections; needs mcp).
"""

from gptu_client.client import AsyncGptu, Gptu
from gptu_client.errors import (
    APIError,
    Conflict,
    ConnectionFailed,
    Forbidden,
    GptuError,
    InvalidRequest,
    NotFound,
    StreamError,
    TooLarge,
    TooManyRequests,
    Unauthorized,
    Unavailable,
)
from gptu_client.models import (
    Accepted,
    Access,
    Answer,
    ChatEvent,
    Collection,
    Document,
    Done,
    Me,
    Message,
    Passage,
    Quote,
    Quotes,
    Source,
    Sources,
    Token,
)

__all__ = [
    "APIError",
    "Accepted",
    "Access",
    "Answer",
    "AsyncGptu",
    "ChatEvent",
    "Collection",
    "Conflict",
    "ConnectionFailed",
    "Document",
    "Done",
    "Forbidden",
    "Gptu",
    "GptuError",
    "InvalidRequest",
    "Me",
    "Message",
    "NotFound",
    "Passage",
    "Quote",
    "Quotes",
    "Source",
    "Sources",
    "StreamError",
    "Token",
    "TooLarge",
    "TooManyRequests",
    "Unauthorized",
    "Unavailable",
]
