"""Write the API's OpenAPI schema to tests/contract/openapi.json (`make openapi`).

The contract test compares the running code with this file, so a change to the API shows up as
a reviewed diff of this file instead of slipping through.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
SNAPSHOT = ROOT / "tests" / "contract" / "openapi.json"


def schema() -> dict[str, Any]:
    """The OpenAPI document of create_app (nothing is started)."""
    sys.path.insert(0, str(ROOT))
    from api.main import create_app
    from core.settings import Settings

    openapi: dict[str, Any] = create_app(Settings(log_format="text")).openapi()
    return openapi


def render(document: dict[str, Any]) -> str:
    """Stable text: sorted keys, one field a line, so diffs are readable."""
    return json.dumps(document, indent=1, sort_keys=True, ensure_ascii=False) + "\n"


if __name__ == "__main__":
    SNAPSHOT.write_text(render(schema()))
    print(f"wrote {SNAPSHOT.relative_to(ROOT)}")
