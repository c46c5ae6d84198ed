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
    "UNSTRUCTURED_DISABLE_NOTICE": "1",
}


def go_offline() -> None:
    """Set the environment that stops telemetry and model downloads; call before imports."""
    for key, value in OFFLINE_ENV.items():
        os.environ.setdefault(key, value)


def quiet_libraries() -> None:
    """Keep chatty client libraries (every HTTP call to Chroma) out of our logs."""
    import logging

    for name in ("httpx", "httpcore", "chromadb", "unstructured"):
        logging.getLogger(name).setLevel(logging.WARNING)
