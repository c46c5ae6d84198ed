"""The v1 API contract is pinned: the OpenAPI schema equals the reviewed snapshot."""

from __future__ import annotations

import json

from cli.contract import openapi_schema, render
from tests.conftest import ROOT

SNAPSHOT = ROOT / "tests" / "contract" / "openapi.json"


def test_openapi_schema_matches_the_reviewed_snapshot() -> None:
    current = openapi_schema()
    pinned = json.loads(SNAPSHOT.read_text())
    changed = sorted(
        f"{method.upper()} {path}"
        for path in set(current["paths"]) | set(pinned["paths"])
        for method in set(current["paths"].get(path, {})) | set(pinned["paths"].get(path, {}))
        if current["paths"].get(path, {}).get(method) != pinned["paths"].get(path, {}).get(method)
    )
    models = sorted(
        name
        for name in set(current["components"]["schemas"]) | set(pinned["components"]["schemas"])
        if current["components"]["schemas"].get(name) != pinned["components"]["schemas"].get(name)
    )
    assert render(current) == render(pinned), (
        f"the API contract changed (operations: {changed}; models: {models}). If intended, "
        "run `make openapi` and commit tests/contract/openapi.json with the change."
    )


def test_every_error_response_is_the_one_envelope() -> None:
    document = openapi_schema()
    envelope = document["components"]["schemas"]["ErrorOut"]
    assert set(envelope["properties"]) == {"error"}
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            for status, response in operation.get("responses", {}).items():
                if status.startswith(("4", "5")):
                    ref = response["content"]["application/json"]["schema"]["$ref"]
                    assert ref.endswith("/ErrorOut"), (method, path, status)
