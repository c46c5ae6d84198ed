"""The language model behind one small protocol: in-process llama.cpp or a remote server."""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, Protocol

from core.errors import ModelBusy, ModelError

Message = dict[str, str]


# The prompt's own markup never belongs in an answer: generation stops where it would start.
STOP = ["<passages>", "</passages>", "\nQuestion:", "Question: "]
REPEAT_PENALTY = 1.1  # llama.cpp's penalty on tokens repeated within the last 64
FREQUENCY_PENALTY = 0.3  # OpenAI-style servers' nearest equivalent
LONGEST_LOOP = 80  # characters of a repeated stretch that ends generation
EXCERPT_TOKENS = 220  # passage tokens a model reads when its catalog entry says nothing


class LLM(Protocol):
    """A chat model: counts tokens and streams a reply to messages."""

    name: str
    context_size: int
    excerpt_tokens: int  # tokens of passage excerpts it answers best from (0 = whole passages)

    def count_tokens(self, text: str) -> int:
        """Tokens of text with this model's tokenizer."""
        ...

    def stream(
        self, messages: list[Message], max_tokens: int, temperature: float, cancel: threading.Event
    ) -> Iterator[str]:
        """Yield the reply's text pieces; stop early when cancel is set."""
        ...


class Gate:
    """One model, many askers: first come, first served; each waits at most `timeout` s.

    At most `max_waiting` askers queue at once (0 = no limit); one more is told at once that
    the model is busy rather than joining a queue it would likely time out in.
    """

    def __init__(
        self, slots: int = 1, max_waiting: int = 0, busy: Callable[[bool], None] | None = None
    ) -> None:
        """`busy` hears True when the model starts generating and False when no one holds
        or waits for it any more (core.priority.ChatMark: workers pause meanwhile)."""
        self.slots = slots
        self.max_waiting = max_waiting
        self.busy_hook = busy
        self.busy = 0
        self.queue: deque[object] = deque()
        self.cond = threading.Condition()

    @property
    def waiting(self) -> int:
        """Askers waiting for a slot."""
        return len(self.queue)

    def acquire(self, timeout: float) -> None:
        """Take a slot in arrival order, or raise ModelBusy after timeout seconds."""
        ticket = object()
        with self.cond:
            if self.max_waiting and len(self.queue) >= self.max_waiting:
                raise ModelBusy(
                    f"the model is busy; {len(self.queue)} questions are waiting, try again shortly"
                )
            self.queue.append(ticket)
            if self.busy_hook is not None:
                self.busy_hook(True)  # waiting counts: the worker frees the CPU meanwhile
            ok = self.cond.wait_for(
                lambda: self.queue[0] is ticket and self.busy < self.slots, timeout=timeout
            )
            self.queue.remove(ticket)
            if ok:
                self.busy += 1
            self.idle_check()
            self.cond.notify_all()
        if not ok:
            raise ModelBusy(f"the model is busy; waited {timeout:g} s, try again shortly")

    def release(self) -> None:
        """Give the slot back."""
        with self.cond:
            self.busy -= 1
            self.idle_check()
            self.cond.notify_all()

    def idle_check(self) -> None:
        """Tell the hook when no one holds or waits for the model (under the lock)."""
        if self.busy_hook is not None and not self.busy and not self.queue:
            self.busy_hook(False)

    @contextmanager
    def held(self, timeout: float) -> Iterator[None]:
        """A slot for the duration of a with-block."""
        self.acquire(timeout)
        try:
            yield
        finally:
            self.release()


class LlamaCppLLM:
    """A GGUF model loaded in this process with llama-cpp-python."""

    def __init__(
        self, path: str, name: str, context: int, threads: int, gpu_layers: int = 0,
        excerpt_tokens: int = EXCERPT_TOKENS,
    ) -> None:  # fmt: skip
        try:
            self.model = self._load(path, context, threads, gpu_layers)
            trained = trained_context(self.model.metadata)
            if trained and trained < context:  # never ask for more than the model learned
                self.model = self._load(path, trained, threads, gpu_layers)
        except (ValueError, OSError) as exc:
            raise ModelError(f"cannot load model {name} from {path}: {exc}") from exc
        self.name = name
        self.context_size = self.model.n_ctx()
        self.excerpt_tokens = excerpt_tokens

    @staticmethod
    def _load(path: str, context: int, threads: int, gpu_layers: int) -> Any:
        from llama_cpp import Llama

        return Llama(
            model_path=path,
            n_ctx=context,
            n_threads=threads,
            n_threads_batch=threads,
            n_gpu_layers=gpu_layers,
            verbose=False,
        )

    def count_tokens(self, text: str) -> int:
        """Tokens of text, as the model sees it."""
        return len(self.model.tokenize(text.encode(), add_bos=False, special=True))

    def stream(
        self, messages: list[Message], max_tokens: int, temperature: float, cancel: threading.Event
    ) -> Iterator[str]:
        """Generate with the GGUF's own chat template; stops between tokens when cancelled."""
        chunks: Any = self.model.create_chat_completion(
            messages=messages,
            max_tokens=max_tokens,
            temperature=temperature,
            repeat_penalty=REPEAT_PENALTY,
            stop=STOP,
            stream=True,
        )
        try:
            for chunk in chunks:
                if cancel.is_set():
                    break
                piece = chunk["choices"][0]["delta"].get("content")
                if piece:
                    yield piece
        finally:
            chunks.close()


def trained_context(metadata: dict[str, str]) -> int:
    """The context length the GGUF says the model was trained with (0 if unknown)."""
    arch = metadata.get("general.architecture", "")
    try:
        return int(metadata.get(f"{arch}.context_length", 0))
    except ValueError:
        return 0


class RemoteLLM:
    """Any OpenAI-compatible server: llama.cpp's llama-server, vLLM, llama_cpp.server."""

    def __init__(self, url: str, model: str, context: int, api_key: str = "none") -> None:
        import httpx

        self.client = httpx.Client(
            base_url=url.rstrip("/"), timeout=httpx.Timeout(300, connect=5),
            headers={"Authorization": f"Bearer {api_key}"},
        )  # fmt: skip
        self.name = model
        self.context_size = context
        self.excerpt_tokens = EXCERPT_TOKENS

    def ping(self) -> None:
        """Raise unless the server answers (readiness: it may still be starting). Not every
        OpenAI-compatible server lists its models, so any answer will do but 502-504 (llama.cpp's
        server answers 503 while it loads its model; a proxy 502 or 504 when it is down)."""
        answer = self.client.get("/models", timeout=3)
        if answer.status_code in (502, 503, 504):
            raise ModelError(f"model server answered {answer.status_code}")

    def count_tokens(self, text: str) -> int:
        """A safe over-estimate (servers differ in their tokenize endpoints)."""
        return len(text.encode()) // 3 + 1

    def stream(
        self, messages: list[Message], max_tokens: int, temperature: float, cancel: threading.Event
    ) -> Iterator[str]:
        """Stream a chat completion over SSE."""
        import json

        import httpx

        body = {
            "model": self.name, "messages": messages, "max_tokens": max_tokens,
            "temperature": temperature, "stream": True, "stop": STOP,
            "frequency_penalty": FREQUENCY_PENALTY,
        }  # fmt: skip
        try:
            with self.client.stream("POST", "/chat/completions", json=body) as answer:
                if answer.status_code != 200:
                    answer.read()
                    raise ModelError(
                        f"model server answered {answer.status_code}: {answer.text[:200]}"
                    )
                for line in answer.iter_lines():
                    if cancel.is_set():
                        break
                    if not line.startswith("data: ") or line == "data: [DONE]":
                        continue
                    delta = json.loads(line[6:])["choices"][0].get("delta", {})
                    if delta.get("content"):
                        yield delta["content"]
        except httpx.HTTPError as exc:
            raise ModelError(f"model server unreachable: {exc}") from exc


def load_llm(settings: Any) -> LLM:
    """The model the settings ask for: a remote server, or a catalog/GGUF model in-process."""
    import os

    from core.models import ModelUnavailable, load_catalog, model_file, resolve

    if settings.llm_url:
        name = settings.llm_model or settings.model
        return RemoteLLM(settings.llm_url, name, settings.context_size)
    try:
        catalog = load_catalog(models_dir=settings.data_dir / "models")  # with tuned models
        spec = resolve(settings.model, settings.model_cache, catalog)
        path = model_file(spec, settings.model_cache)
    except ModelUnavailable as exc:
        raise ModelError(str(exc)) from exc
    threads = settings.llm_threads or os.cpu_count() or 1
    context = min(settings.context_size, spec.context)
    return LlamaCppLLM(str(path), spec.name, context, threads, settings.n_gpu_layers,
                       spec.context_tokens)  # fmt: skip


def until_loop(pieces: Iterator[str]) -> Iterator[str]:
    """The pieces, ending once the text repeats one stretch three times ("2022: 2022: 2022: ")."""
    text = ""
    for piece in pieces:
        yield piece
        text = (text + piece)[-3 * LONGEST_LOOP :]
        if looping(text):
            return


def looping(text: str) -> bool:
    """Whether text ends with the same 4..LONGEST_LOOP characters three times in a row."""
    for width in range(4, min(LONGEST_LOOP, len(text) // 3) + 1):
        end = text[-width:]
        if text[-2 * width : -width] == end and text[-3 * width : -2 * width] == end:
            return True
    return False
