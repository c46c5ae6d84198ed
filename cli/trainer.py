"""Drive the tuning environment: run `tune.train` in .venv-tune, follow it, quantise its GGUF.

The trainer runs as a child process of the tuning venv (torch, transformers and peft never enter
this one); it reports JSON lines on stdout, which become `on_event` calls here, and writes its
log to the run's folder.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

from cli.localstack import ROOT
from core.models import ModelUnavailable, quantize
from core.offline import OFFLINE_ENV
from tune.config import RunConfig

TUNE_VENV = ROOT / ".venv-tune"
Event = dict[str, Any]


class TuneFailed(Exception):
    """Training or packaging stopped; the message says why."""


def tune_python(venv: Path = TUNE_VENV) -> Path:
    """The tuning venv's Python, or TuneFailed saying how to build it."""
    python = venv / "bin" / "python"
    if not os.access(python, os.X_OK):
        raise TuneFailed(f"the tuning environment {venv} is missing: run `make tune-env`")
    return python


def train(
    config: RunConfig, on_event: Callable[[Event], None] = lambda _: None, nice: int = 0
) -> None:
    """Run the trainer on config (continuing from its checkpoint) until it has written
    config.merged; TuneFailed with the reason otherwise."""
    work = Path(config.work_dir)
    work.mkdir(parents=True, exist_ok=True)
    path = work / "run.json"
    config.save(path)
    env = {**os.environ, **OFFLINE_ENV, "PYTHONPATH": str(ROOT), "PYTHONUNBUFFERED": "1"}
    args = [str(tune_python()), "-m", "tune.train", "--config", str(path)]
    reason = ""
    with (work / "train.log").open("ab") as log:
        child = subprocess.Popen(
            args, stdout=subprocess.PIPE, stderr=log, env=env, cwd=ROOT, text=True,
            preexec_fn=(lambda: os.nice(nice)) if nice else None,
        )  # fmt: skip
        assert child.stdout is not None
        for line in child.stdout:
            event = parse(line)
            if event is None:
                continue
            reason = event.get("reason", reason) if event["event"] == "failed" else reason
            on_event(event)
        code = child.wait()
    if code != 0 or not config.merged.is_file():
        raise TuneFailed(reason or ended(code, work / "train.log"))


def parse(line: str) -> Event | None:
    """A trainer event, or None for a line that is not one."""
    try:
        event = json.loads(line)
    except json.JSONDecodeError:
        return None
    return event if isinstance(event, dict) and "event" in event else None


def ended(code: int, log: Path) -> str:
    """Why the trainer stopped, from its exit status and the end of its log."""
    if code < 0:
        name = signal.Signals(-code).name
        hint = " (out of memory?)" if -code == signal.SIGKILL else ""
        return f"the trainer was stopped by {name}{hint}"
    tail = log.read_text(encoding="utf-8", errors="replace").strip().splitlines()[-3:]
    return f"the trainer exited with status {code}: " + " | ".join(tail)


def package(merged: Path, target: Path, encoding: str) -> Path:
    """The merged F32 GGUF quantised to encoding at target (via a partial file)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        quantize(merged, target, encoding)
    except (ModelUnavailable, OSError) as exc:
        free = shutil.disk_usage(target.parent).free
        full = f" (the disk is full? {free // 2**20} MB free in {target.parent})"
        hint = full if free < merged.stat().st_size // 4 else ""
        raise TuneFailed(f"quantising to {encoding} failed: {exc}{hint}") from exc
    return target
