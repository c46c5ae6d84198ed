"""A training run that meets a full disk or runs out of memory says so in plain words."""

from __future__ import annotations

import errno

from tune.faults import reason


def test_full_disks_and_memory_are_named_and_bugs_are_not_dressed_up() -> None:
    full = reason(OSError(errno.ENOSPC, "No space left on device", "/data/tune/r/train/x.partial"))
    assert full and full.startswith("the disk is full writing /data/tune/r/train/x.partial")
    assert "--resume" in full
    torch_oom = RuntimeError(
        "[enforce fail at alloc_cpu.cpp:117] DefaultCPUAllocator: can't allocate memory: "
        "you tried to allocate 2147483648 bytes."
    )
    for exc in (MemoryError(), torch_oom):
        said = reason(exc)
        assert said and said.startswith("out of memory") and "--batch" in said
    assert reason(ValueError("no examples")) == "ValueError: no examples"
    assert reason(RuntimeError("shape mismatch")) is None  # a bug: its traceback, not a sentence
