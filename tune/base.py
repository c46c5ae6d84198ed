"""The base model straight from its GGUF: dequantised weights, tokenizer and chat template.

transformers reads a GGUF's metadata three times (tokenizer, config, weights) in pure Python:
about 25 s for SmolLM2-135M on 2 cores. The first load therefore keeps a plain Hugging Face
copy (F32 safetensors, the same values) in a cache folder named after the GGUF's sha256, and
later loads read that instead (a few seconds).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path
from typing import Any

ARCHITECTURES = ("llama", "qwen2")  # what transformers dequantises and tune.export writes back


def sha256(path: Path) -> str:
    """The file's sha256, hex (tune/ imports no gptu room, so not cli.importer's)."""
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while block := fh.read(1 << 22):
            digest.update(block)
    return digest.hexdigest()


def cached_copy(gguf: Path, cache: Path) -> Path:
    """Where the dequantised copy of this GGUF (by its content) is kept in cache."""
    return cache / f"{gguf.stem}-{sha256(gguf)[:16]}"


def load_base(gguf: Path, cache: Path | None = None) -> tuple[Any, Any, bool]:
    """(model, tokenizer, from_cache) for the GGUF; nothing is fetched from a hub."""
    if cache is None:
        return (*from_gguf(gguf), False)
    folder = cached_copy(gguf, cache)
    if (folder / "source.json").is_file():
        return (*from_folder(folder), True)
    model, tokenizer = from_gguf(gguf)
    keep(model, tokenizer, gguf, folder)
    return model, tokenizer, False


def load_tokenizer(gguf: Path, cache: Path | None = None) -> Any:
    """The GGUF's tokenizer and chat template alone (from the cached copy when there is one)."""
    from transformers import AutoTokenizer

    folder = cached_copy(gguf, cache) if cache else None
    if folder and (folder / "source.json").is_file():
        return AutoTokenizer.from_pretrained(folder)
    return AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)


def from_gguf(gguf: Path) -> tuple[Any, Any]:
    """Dequantise the GGUF with transformers."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    folder, name = str(gguf.parent), gguf.name
    tokenizer = AutoTokenizer.from_pretrained(folder, gguf_file=name)
    model = AutoModelForCausalLM.from_pretrained(folder, gguf_file=name, dtype=torch.float32)
    return checked(model, tokenizer, gguf)


def from_folder(folder: Path) -> tuple[Any, Any]:
    """The cached Hugging Face copy."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(folder)
    model = AutoModelForCausalLM.from_pretrained(folder, dtype=torch.float32)
    return checked(model, tokenizer, folder)


def checked(model: Any, tokenizer: Any, source: Path) -> tuple[Any, Any]:
    """The pair, ready to train: a supported architecture, a chat template, a pad token."""
    if model.config.model_type not in ARCHITECTURES:
        raise ValueError(f"{source}: architecture {model.config.model_type} is not supported")
    if not tokenizer.chat_template:
        raise ValueError(f"{source} carries no chat template (tokenizer.chat_template)")
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token
    model.config.use_cache = False
    return model, tokenizer


def keep(model: Any, tokenizer: Any, gguf: Path, folder: Path) -> None:
    """Save the pair as a plain Hugging Face folder, complete or not at all; when another run
    made it meanwhile, theirs stays (the same values: it is named after the GGUF's sha256).

    Written by hand: transformers refuses to save a model it loaded from a GGUF.
    """
    from safetensors.torch import save_model

    partial = folder.with_name(f"{folder.name}.partial-{os.getpid()}")
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    config = model.config.to_dict()
    config.pop("quantization_config", None)  # the copy is plain F32, not a GGUF
    (partial / "config.json").write_text(json.dumps(config, indent=2), encoding="utf-8")
    save_model(model, str(partial / "model.safetensors"))  # tied weights stored once
    tokenizer.save_pretrained(partial)
    (partial / "source.json").write_text(json.dumps({"gguf": str(gguf)}), encoding="utf-8")
    try:
        partial.rename(folder)
    except OSError:  # a complete copy is already there
        shutil.rmtree(partial, ignore_errors=True)
