"""The kinds of source, by name; each kind's module is imported when first asked for."""

from __future__ import annotations

import importlib

from core.errors import InvalidRequest
from sources.base import Kind

MODULES = {
    "web": "sources.web",
    "webdav": "sources.webdav",
    "imap": "sources.imap",
    "git": "sources.git",
    "slack": "sources.slack",
    "folder": "sources.folder",
}


def kind(name: str) -> Kind:
    """The kind called name; InvalidRequest naming the kinds there are."""
    if name not in MODULES:
        raise InvalidRequest(f"no source kind {name!r}; the kinds are {', '.join(MODULES)}")
    found: Kind = importlib.import_module(MODULES[name]).KIND
    return found
