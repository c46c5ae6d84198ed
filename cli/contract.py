"""The API contract as stable text: `gptu openapi` writes what tests/contract/openapi.json pins."""

from __future__ import annotations

import json
from typing import Any

from api.main import create_app
from core.settings import Settings


def openapi_schema() -> dict[str, Any]:
    """The OpenAPI document of create_app (nothing is started)."""
    schema: dict[str, Any] = create_app(Settings(log_format="text")).openapi()
    return schema


def render(document: dict[str, Any]) -> str:
    """Sorted keys, one field a line, so a change reads as a small diff."""
    return json.dumps(document, indent=1, sort_keys=True, ensure_ascii=False) + "\n"
