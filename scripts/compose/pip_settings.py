"""This machine's pip settings for container builds: writes them as a pip.conf (argument 1) for
the stand-in base image, and prints the `-v` flags that make the local paths they name (file://
indexes with the files beside them, find-links folders, constraint files) visible, read-only,
inside `podman build` at the same paths. Run with any Python that has pip."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

CERT = "/etc/ssl/certs/ca-certificates.crt"  # where Debian keeps the CA bundle, host and image


def settings() -> dict[str, str]:
    """pip's effective settings: files first, then PIP_* environment variables over them."""
    listed = subprocess.run(
        [sys.executable, "-m", "pip", "config", "list"], capture_output=True, text=True
    ).stdout
    found: dict[str, str] = {}
    env: dict[str, str] = {}
    for line in listed.splitlines():
        match = re.match(r"(:env:|[\w-]+)\.([\w-]+)='(.*)'$", line)
        if match:
            (env if match.group(1) == ":env:" else found)[match.group(2)] = match.group(3)
    return {**found, **env}


def local_paths(value: str) -> list[str]:
    """Folders and files on this machine that a setting's value names."""
    paths = []
    for item in value.split():
        path = item.removeprefix("file://")
        if not path.startswith("/") or not os.path.exists(path):
            continue
        if path.rstrip("/").endswith("/simple"):  # an index: its files lie beside it
            path = str(Path(path).parent)
        paths.append(path)
    return paths


def main() -> None:
    values = settings()
    values["cert"] = CERT
    values.setdefault("default-timeout", "180")
    lines = ["[global]", *(f"{key} = {value}" for key, value in sorted(values.items()))]
    Path(sys.argv[1]).write_text("\n".join(lines) + "\n")
    mounts = {p for key, value in values.items() if key != "cert" for p in local_paths(value)}
    print(" ".join(f"-v {p}:{p}:ro" for p in sorted(mounts)))


if __name__ == "__main__":
    main()
