"""Why a training run failed, in words an administrator acts on (standard library only)."""

from __future__ import annotations

import errno

MEMORY_WORDS = ("out of memory", "can't allocate memory", "cannot allocate memory")


def reason(exc: BaseException) -> str | None:
    """The failure as a sentence, or None when it is not one a run is expected to meet (a bug:
    the trainer then ends with its traceback)."""
    resume = "then continue with `gptu tune --resume RUN`"
    if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT):
        where = f" writing {exc.filename}" if exc.filename else ""
        return f"the disk is full{where} ({exc.strerror}): free some space, {resume}"
    if isinstance(exc, OSError) and exc.errno == errno.EFBIG:
        return f"a file grew past this process's size limit (ulimit -f): {exc}"
    if isinstance(exc, MemoryError) or (
        isinstance(exc, RuntimeError) and any(w in str(exc).lower() for w in MEMORY_WORDS)
    ):
        return f"out of memory: stop other programs or use a smaller --batch, {resume}"
    if isinstance(exc, (ValueError, OSError)):
        return f"{type(exc).__name__}: {exc}"
    return None
