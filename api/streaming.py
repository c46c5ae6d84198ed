"""Run a blocking token generator in a thread and consume it from async code."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Callable, Iterator

_END = object()


async def from_thread(
    make: Callable[[], Iterator[str]], cancel: threading.Event, on_done: Callable[[], None]
) -> AsyncIterator[str]:
    """Yield what make() produces in a worker thread; on exit, cancel it and wait for on_done.

    on_done runs in the thread after the generator stops, so the model is truly free then.
    """
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[object] = asyncio.Queue()

    def produce() -> None:
        try:
            for piece in make():
                loop.call_soon_threadsafe(queue.put_nowait, piece)
                if cancel.is_set():
                    break
        except BaseException as exc:  # handed to the consumer, raised there
            loop.call_soon_threadsafe(queue.put_nowait, exc)
        finally:
            on_done()
            loop.call_soon_threadsafe(queue.put_nowait, _END)

    thread = threading.Thread(target=produce, name="gptu-generate", daemon=True)
    thread.start()
    try:
        while (item := await queue.get()) is not _END:
            if isinstance(item, BaseException):
                raise item
            yield str(item)
    finally:
        cancel.set()
