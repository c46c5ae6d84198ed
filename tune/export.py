"""Write merged weights as a GGUF that keeps everything else of the base GGUF.

The base file's metadata (architecture, tokenizer, chat template, context) is copied key by
key; only the tensors are new, in F32 so that quantising them later (in the main venv, with
llama.cpp) is the only rounding. Hugging Face names map to GGUF names through gguf's own
table, and llama's q/k weights get back the row order llama.cpp expects (transformers undoes
it when it loads a llama GGUF).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

SKIPPED_KEYS = ("GGUF.", "general.architecture", "general.file_type", "general.name")
ALL_F32 = 0  # llama.cpp's LLAMA_FTYPE_ALL_F32


def permute(weights: Any, n_head: int) -> Any:
    """llama.cpp's row order for a q or k projection (convert_hf_to_gguf's LlamaModel.permute)."""
    rows = weights.shape[0]
    return (
        weights.reshape(n_head, 2, rows // n_head // 2, *weights.shape[1:])
        .swapaxes(1, 2)
        .reshape(weights.shape)
    )


def metadata(reader: Any, key: str) -> Any:
    """One metadata value of the base file; ValueError when it lacks the key."""
    field = reader.get_field(key)
    if field is None:
        raise ValueError(f"the base GGUF has no {key}")
    return field.contents()


def gguf_tensors(state: dict[str, Any], reader: Any, arch: str) -> dict[str, Any]:
    """The state dict's tensors under their GGUF names, in GGUF row order, checked against the
    base file: the same names and shapes, nothing missing, nothing extra."""
    import gguf
    import numpy as np

    blocks = int(metadata(reader, f"{arch}.block_count"))
    n_head = int(metadata(reader, f"{arch}.attention.head_count"))
    n_head_kv = int(metadata(reader, f"{arch}.attention.head_count_kv"))
    names = gguf.get_tensor_name_map(next(k for k, v in gguf.MODEL_ARCH_NAMES.items()
                                          if v == arch), blocks)  # fmt: skip
    base = {t.name: tuple(int(n) for n in reversed(t.shape)) for t in reader.tensors}
    out: dict[str, Any] = {}
    for hf_name, tensor in state.items():
        name = names.get_name(hf_name, try_suffixes=(".weight", ".bias"))
        if name is None:
            raise ValueError(f"no GGUF name for tensor {hf_name}")
        if name == "output.weight" and name not in base:
            continue  # tied to token_embd, which the base file holds once
        array = np.ascontiguousarray(tensor.detach().float().cpu().numpy())
        if arch == "llama" and name.endswith("attn_q.weight"):
            array = permute(array, n_head)
        elif arch == "llama" and name.endswith("attn_k.weight"):
            array = permute(array, n_head_kv)
        if base.get(name) != array.shape:
            raise ValueError(f"{name}: shape {array.shape}, the base has {base.get(name)}")
        out[name] = array
    missing = sorted(set(base) - set(out))
    if missing:
        raise ValueError(f"tensors of the base missing from the model: {', '.join(missing[:5])}")
    return {name: out[name] for name in base}  # the base file's order


def write_gguf(
    state: dict[str, Any], base: Path, out: Path, name: str, meta: dict[str, Any]
) -> None:
    """Write state (HF names) as an F32 GGUF at out, with base's metadata and `meta` added as
    gptu.tune.* keys; written beside out and renamed, so out is complete or absent."""
    import gguf

    reader = gguf.GGUFReader(base)
    arch = str(metadata(reader, "general.architecture"))
    tensors = gguf_tensors(state, reader, arch)
    partial = out.with_suffix(".partial")
    writer = gguf.GGUFWriter(partial, arch)
    for field in reader.fields.values():
        if field.name.startswith(SKIPPED_KEYS):
            continue
        sub_type = field.types[-1] if field.types[0] == gguf.GGUFValueType.ARRAY else None
        writer.add_key_value(field.name, field.contents(), field.types[0], sub_type=sub_type)
    writer.add_name(name)
    writer.add_file_type(ALL_F32)
    for key, value in meta.items():
        writer.add_string(f"gptu.tune.{key}", str(value))
    for tensor_name, array in tensors.items():
        writer.add_tensor(tensor_name, array)
    try:
        writer.write_header_to_file()
        writer.write_kv_data_to_file()
        writer.write_tensors_to_file()
        writer.close()
    except BaseException as exc:
        partial.unlink(missing_ok=True)  # a disk that filled up gets its space back
        if isinstance(exc, OSError) and exc.filename is None:
            exc.filename = str(partial)  # the reason names the file
        raise
    partial.replace(out)
