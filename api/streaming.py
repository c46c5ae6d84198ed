"""Answers streamed from the model's thread to async routes, and stored when finished."""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import AsyncIterator, Callable, Iterator

import anyio.to_thread
from fastapi.concurrency import run_in_threadpool

from answer.llm import Gate
from answer.rag import Answerer, Plan
from answer.tracing import Draft, Tracer

_END = object()
THREADS = 40  # anyio's default pool: sync routes, dependencies, search, SQL


async def from_thread(
    make: Callable[[], Iterator[str]], cancel: threading.Event, on_done: Callable[[], None]
) -> AsyncIterator[str]:
    """Yield what make() produces in a worker thread; on exit, cancel it and wait for on_done.

    on_done runs in the thread after the generator stops, so the model is truly free then.
    """
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[object] = asyncio.Queue()

    def hand(item: object) -> None:
        with contextlib.suppress(RuntimeError):  # the loop closed (server shutting down)
            loop.call_soon_threadsafe(queue.put_nowait, item)

    def produce() -> None:
        try:
            for piece in make():
                hand(piece)
                if cancel.is_set():
                    break
        except BaseException as exc:  # handed to the consumer, raised there
            hand(exc)
        finally:
            on_done()
            hand(_END)

    thread = threading.Thread(target=produce, name="gptu-generate", daemon=True)
    thread.start()
    try:
        while (item := await queue.get()) is not _END:
            if isinstance(item, BaseException):
                raise item
            yield str(item)
    finally:
        cancel.set()


class Turn:
    """The model's turn, taken before a response starts; released exactly once.

    The answer's generator releases it when generation stops. A response whose body never ran
    (the client left at once) releases it through `release_unused`, run after the response.
    """

    def __init__(self, gate: Gate | None) -> None:
        self.gate = gate
        self.started = False
        self.lock = threading.Lock()

    def release(self) -> None:
        """Give the model back (once)."""
        with self.lock:
            gate, self.gate = self.gate, None
        if gate is not None:
            gate.release()

    def release_unused(self) -> None:
        """Give the model back if generation never started."""
        if not self.started:
            self.release()


def reserve_waiting_threads(max_waiting: int) -> None:
    """Grow this event loop's thread pool by the askers that may wait for the model at once."""
    limiter = anyio.to_thread.current_default_thread_limiter()
    limiter.total_tokens = THREADS + max_waiting


async def take_turn(answerer: Answerer, plan: Plan) -> Turn:
    """Wait for the model in turn (503 model_busy after the queue timeout), if it is needed.

    The wait blocks a thread of the pool; `reserve_waiting_threads` sized the pool so that the
    gate's bounded queue never takes the threads other requests need.
    """
    if not answerer.needs_model(plan):
        return Turn(None)
    await run_in_threadpool(answerer.gate.acquire, answerer.queue_timeout)
    return Turn(answerer.gate)


async def complete(answerer: Answerer, plan: Plan) -> str:
    """The whole answer at once, in turn (503 model_busy after the queue timeout)."""
    turn = await take_turn(answerer, plan)
    try:
        return await run_in_threadpool(lambda: "".join(answerer.generate(plan, threading.Event())))
    finally:
        turn.release()


async def answer_pieces(answerer: Answerer, plan: Plan, turn: Turn) -> AsyncIterator[str]:
    """The answer's pieces as the model makes them, in the turn already taken."""
    turn.started = True
    cancel = threading.Event()
    if turn.gate is None:
        for piece in answerer.generate(plan, cancel):
            yield piece
        return
    async for piece in from_thread(lambda: answerer.generate(plan, cancel), cancel, turn.release):
        yield piece


async def finish(tracer: Tracer, draft: Draft, answer: str) -> tuple[str, str]:
    """Check and store a finished answer; (trace id, answer without invalid citations)."""
    assert draft.plan is not None
    tokens = await run_in_threadpool(draft.plan.llm.count_tokens, answer)
    return await run_in_threadpool(tracer.finish, draft, answer, tokens)
