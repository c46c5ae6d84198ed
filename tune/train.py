"""LoRA on a GGUF base, resumable, then merged and written as an F32 GGUF.

`.venv-tune/bin/python -m tune.train --config run.json` prints one JSON line per event on
stdout (`loaded`, `data`, `step`, `written`, `failed`) for the caller's progress bar, and
appends it to events.jsonl in the work folder (`tail -f` it); everything else goes to stderr.
A run that stops (Ctrl-C, SIGKILL) continues from its last checkpoint when started again with
the same config.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import sys
import time
from pathlib import Path
from typing import Any

from tune.config import RunConfig
from tune.faults import reason

OFFLINE = {"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "HF_HUB_DISABLE_TELEMETRY": "1"}
EVENTS: list[Path] = []  # the run's events.jsonl, once its folder is known


def emit(event: str, **fields: Any) -> None:
    """One progress line for the caller (and the run's events.jsonl)."""
    line = json.dumps({"event": event, "at": round(time.time(), 2), **fields})
    print(line, flush=True)
    for path in EVENTS:
        with path.open("a", encoding="utf-8") as out:
            out.write(line + "\n")


def schedule(step: int, steps: int, warmup: float) -> float:
    """The learning rate's factor at step: a linear rise, then a cosine fall to a tenth."""
    rise = max(1, math.ceil(steps * warmup))
    if step < rise:
        return (step + 1) / rise
    done = (step - rise) / max(1, steps - rise)
    return 0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * done))


def order(count: int, batch: int, steps: int, seed: int) -> list[list[int]]:
    """Which examples each step trains on: shuffled epochs, the same on every (re)start."""
    batches: list[list[int]] = []
    epoch = 0
    while len(batches) < steps:
        ids = list(range(count))
        random.Random(seed * 1000 + epoch).shuffle(ids)
        batches += [ids[i : i + batch] for i in range(0, count, batch)]
        epoch += 1
    return batches[:steps]


def adapt(model: Any, config: RunConfig) -> Any:
    """The model with LoRA adapters on config.targets (the base weights frozen)."""
    from peft import LoraConfig, get_peft_model

    lora = LoraConfig(
        r=config.rank, lora_alpha=config.alpha, lora_dropout=config.dropout,
        target_modules=config.targets, task_type="CAUSAL_LM",
    )  # fmt: skip
    return get_peft_model(model, lora)


def restore(model: Any, optimiser: Any, config: RunConfig) -> int:
    """Load the last checkpoint, if any; the step to continue from."""
    import torch
    from peft import set_peft_model_state_dict

    if not config.checkpoint.is_file():
        return 0
    saved = torch.load(config.checkpoint, weights_only=False)
    if saved["config"] != config_key(config):
        raise ValueError(f"{config.checkpoint} belongs to another configuration; start afresh")
    set_peft_model_state_dict(model, saved["adapter"])
    optimiser.load_state_dict(saved["optimiser"])
    torch.set_rng_state(saved["rng"])
    return int(saved["step"])


def config_key(config: RunConfig) -> dict[str, Any]:
    """The settings a checkpoint must share with the run that resumes it."""
    keys = ("base_gguf", "examples", "batch", "rank", "alpha", "targets", "max_tokens", "seed",
            "lr", "steps")  # fmt: skip
    return {k: getattr(config, k) for k in keys}


def save(model: Any, optimiser: Any, step: int, config: RunConfig) -> None:
    """Adapter, optimiser and step, written beside the checkpoint and renamed over it."""
    import torch
    from peft import get_peft_model_state_dict

    partial = config.checkpoint.with_suffix(".partial")
    adapter = get_peft_model_state_dict(model, save_embedding_layers=False)
    torch.save(
        {"step": step, "adapter": adapter, "config": config_key(config),
         "optimiser": optimiser.state_dict(), "rng": torch.get_rng_state()},
        partial,
    )  # fmt: skip
    partial.replace(config.checkpoint)


def reply_loss(model: Any, batch: dict[str, Any]) -> Any:
    """Cross-entropy on the reply tokens only; the vocabulary projection (a fifth of
    SmolLM2's weights) runs only where a reply token is predicted, not on the prompt."""
    import torch

    from tune.data import IGNORE

    inner = model.get_base_model()
    hidden = inner.model(
        input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]
    ).last_hidden_state
    labels = batch["labels"][:, 1:]
    wanted = labels != IGNORE
    logits = inner.lm_head(hidden[:, :-1][wanted])
    return torch.nn.functional.cross_entropy(logits.float(), labels[wanted])


def train(model: Any, tokenizer: Any, config: RunConfig, chats: list[Any]) -> Any:
    """Train LoRA for config.steps (from the last checkpoint); the merged plain model."""
    import torch

    from tune.data import collate, encode_all

    examples, dropped = encode_all(chats, tokenizer, config.max_tokens)
    if config.steps and not examples:
        raise ValueError(f"no example fits {config.max_tokens} tokens ({dropped} too long)")
    model = adapt(model, config)
    params = [p for p in model.parameters() if p.requires_grad]
    optimiser = torch.optim.AdamW(params, lr=config.lr, weight_decay=0.0)
    start = restore(model, optimiser, config)
    plan = order(len(examples), config.batch, config.steps, config.seed)
    emit("data", examples=len(examples), dropped=dropped, start=start, steps=config.steps,
         trainable=sum(p.numel() for p in params))  # fmt: skip
    model.train()
    device = next(model.parameters()).device
    for step in range(start, config.steps):
        began = time.perf_counter()
        for group in optimiser.param_groups:
            group["lr"] = config.lr * schedule(step, config.steps, config.warmup)
        batch = collate([examples[i] for i in plan[step]], tokenizer.pad_token_id)
        loss = reply_loss(model, {k: v.to(device) for k, v in batch.items()})
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        optimiser.step()
        optimiser.zero_grad(set_to_none=True)
        done = step + 1
        if done % config.save_every == 0 or done == config.steps:
            save(model, optimiser, done, config)
        emit("step", step=done, steps=config.steps, loss=round(loss.item(), 4),
             seconds=round(time.perf_counter() - began, 3))  # fmt: skip
    return model.merge_and_unload()


def run(config: RunConfig) -> None:
    """Load, train, merge, write config.merged."""
    for key, value in OFFLINE.items():
        os.environ.setdefault(key, value)
    import torch

    from tune.base import load_base
    from tune.data import read_examples
    from tune.export import write_gguf

    chats = read_examples(Path(config.examples))  # a bad file fails before the slow load

    torch.manual_seed(config.seed)
    torch.set_num_threads(config.threads or os.cpu_count() or 1)
    Path(config.work_dir).mkdir(parents=True, exist_ok=True)
    EVENTS[:] = [Path(config.work_dir) / "events.jsonl"]
    began = time.perf_counter()
    cache = Path(config.cache_dir) if config.cache_dir else None
    model, tokenizer, cached = load_base(Path(config.base_gguf), cache)
    if config.device == "cuda" or (config.device == "auto" and torch.cuda.is_available()):
        model = model.to("cuda")
    emit("loaded", seconds=round(time.perf_counter() - began, 2), cached=cached,
         parameters=sum(p.numel() for p in model.parameters()))  # fmt: skip
    merged = train(model, tokenizer, config, chats)
    began = time.perf_counter()
    meta = {**config.meta, "steps": config.steps, "rank": config.rank, "lr": config.lr}
    write_gguf(merged.state_dict(), Path(config.base_gguf), config.merged, config.name, meta)
    emit("written", path=str(config.merged), seconds=round(time.perf_counter() - began, 2),
         bytes=config.merged.stat().st_size)  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    """Command line: --config run.json."""
    parser = argparse.ArgumentParser(prog="python -m tune.train", description=__doc__)
    parser.add_argument("--config", type=Path, required=True, help="The run's JSON settings.")
    args = parser.parse_args(argv)
    try:
        run(RunConfig.load(args.config))
    except (ValueError, OSError, MemoryError, RuntimeError) as exc:
        why = reason(exc)
        if why is None:
            raise
        emit("failed", reason=why)
        print(f"error: {why}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
