"""Process-wide switches that keep third-party libraries offline (no telemetry, no hub)."""

from __future__ import annotations

import os

OFFLINE_ENV = {
    "HF_HUB_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1",
    "DO_NOT_TRACK": "1",
    "SCARF_NO_ANALYTICS": "1",
    "ANONYMIZED_TELEMETRY": "False",
    "UNSTRUCTURED_TELEMETRY_ENABLED": "false",
}


def go_offline() -> None:
    """Set the environment that stops telemetry and model downloads; call before imports."""
    for key, value in OFFLINE_ENV.items():
        os.environ.setdefault(key, value)
