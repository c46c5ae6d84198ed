"""A tuning run's settings, as the JSON file `python -m tune.train --config run.json` reads.

Standard library only: the `gptu tune` command (main venv) writes it, the trainer (.venv-tune)
reads it.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

# the linear layers of llama and qwen2 blocks that LoRA adapts
TARGETS = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]


@dataclass
class RunConfig:
    """What to train on, how long, and where the run keeps its state."""

    base_gguf: str  # the packaged GGUF: base weights, tokenizer and chat template
    examples: str  # JSON lines of {"messages": [system, user, assistant]}
    work_dir: str  # checkpoints, the merged GGUF, the log
    cache_dir: str = ""  # a plain Hugging Face copy of the base, kept across runs; "" = none
    steps: int = 100  # optimiser steps; 0 writes the base back unchanged (a round-trip check)
    batch: int = 4  # examples per step
    lr: float = 5e-4
    warmup: float = 0.1  # share of steps with a rising learning rate
    rank: int = 16
    alpha: int = 32
    dropout: float = 0.05
    targets: list[str] = field(default_factory=lambda: list(TARGETS))
    max_tokens: int = 1024  # longer examples are dropped, not cut (a cut answer teaches nothing)
    seed: int = 0
    threads: int = 0  # torch threads; 0 = every core
    save_every: int = 10  # steps between checkpoints (what --resume continues from)
    name: str = "gptu-tuned"  # general.name of the written GGUF
    device: str = "auto"  # auto: cuda when torch sees one, else cpu
    meta: dict[str, Any] = field(default_factory=dict)  # written as gptu.tune.* GGUF keys

    def save(self, path: Path) -> None:
        """Write as JSON."""
        path.write_text(json.dumps(asdict(self), indent=2), encoding="utf-8")

    @classmethod
    def load(cls, path: Path) -> RunConfig:
        """Read from JSON; unknown keys are an error (a typo must not train silently)."""
        raw = json.loads(path.read_text(encoding="utf-8"))
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(raw) - known)
        if unknown:
            raise ValueError(f"{path}: unknown settings {', '.join(unknown)}")
        return cls(**raw)

    @property
    def checkpoint(self) -> Path:
        """The latest adapter, optimiser and step, replaced atomically."""
        return Path(self.work_dir) / "checkpoint.pt"

    @property
    def merged(self) -> Path:
        """The merged model as an unquantised (F32) GGUF."""
        return Path(self.work_dir) / "merged.f32.gguf"
