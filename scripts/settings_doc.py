"""Regenerate the settings table in README.md and .env.example from core/settings.py."""

from __future__ import annotations

import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from core.settings import Settings  # noqa: E402

START, END = "<!-- settings:start -->", "<!-- settings:end -->"


def default_of(name: str) -> str:
    """The default as written in a .env file."""
    value = Settings.model_fields[name].default
    if name == "model_cache":
        return "~/.cache/gptu/models"
    return "" if value is None else str(value)


def main() -> None:
    """Rewrite both files."""
    rows = ["| variable | default | meaning |", "|---|---|---|"]
    env = [
        "# gptu settings: copy to .env and edit. Every variable is optional; defaults shown.",
        "",
    ]
    for name, field in Settings.model_fields.items():
        var, default = f"GPTU_{name.upper()}", default_of(name)
        rows.append(
            f"| `{var}` | {f'`{default}`' if default else '(empty)'} | {field.description} |"
        )
        env += [f"# {field.description}", f"{var}={default}", ""]
    readme = ROOT / "README.md"
    table = "\n".join([START, *rows, END])
    text = re.sub(re.escape(START) + ".*?" + re.escape(END), table, readme.read_text(), flags=re.S)
    readme.write_text(text)
    (ROOT / ".env.example").write_text("\n".join(env))


if __name__ == "__main__":
    main()
