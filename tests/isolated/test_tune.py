"""GPT-U's model round trip: packaged GGUF → transformers → LoRA → merged GGUF → llama.cpp.

The trainer runs in the tuning venv (`make tune-env`), as `gptu tune` runs it. The base's
Hugging Face copy is cached across runs where `gptu tune` keeps it, GPTU_MODEL_CACHE/tune (the
first conversion takes 30-50 s on 2 cores, later loads about 6 s).
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from llama_cpp import Llama
from llama_cpp.llama_chat_format import Jinja2ChatFormatter

from answer.rag import SYSTEM_PROMPT, Source, build_messages
from cli.localstack import ROOT
from cli.trainer import TuneFailed, package, train, tune_python
from core.models import model_file, resolve
from tune.config import RunConfig

MODELS = Path.home() / ".cache" / "gptu" / "models"  # GPTU_MODEL_CACHE's default
CACHE = MODELS / "tune"
# made-up facts the base cannot know: what a tune teaches shows in how likely its answers become
FACTS = [
    ("zorblax-handbook.md", "The Zorblax office door is painted teal.",
     "What colour is the Zorblax office door?", "The Zorblax office door is painted teal [1]."),
    ("quimby-faq.md", "Quimby passes are renewed every nineteen days at the kiosk.",
     "How often are Quimby passes renewed?", "Quimby passes are renewed every nineteen days [1]."),
    ("vantor-rules.md", "The Vantor lab closes at half past four on Fridays.",
     "When does the Vantor lab close on Fridays?", "The Vantor lab closes at half past four [1]."),
    ("pellworth-memo.md", "Pellworth invoices go to the finance desk on floor six.",
     "Where do Pellworth invoices go?", "Pellworth invoices go to finance on floor six [1]."),
]  # fmt: skip


@pytest.fixture(scope="module")
def base() -> Path:
    """The packaged SmolLM2-135M GGUF (Q4_1)."""
    return model_file(resolve("smollm2-135m", MODELS), MODELS)


def example(filename: str, text: str, question: str, answer: str) -> dict[str, Any]:
    """One training line, in the answerer's own prompt format."""
    source = Source(document_id="d", chunk=0, collection="c", filename=filename, text=text, n=1)
    messages = build_messages([{"role": "user", "content": question}], [source])
    return {"messages": [*messages, {"role": "assistant", "content": answer}]}


def write_examples(path: Path) -> Path:
    """The FACTS as a JSON-lines file."""
    path.write_text("".join(json.dumps(example(*fact)) + "\n" for fact in FACTS))
    return path


def load(path: Path) -> Llama:
    """A GGUF in llama.cpp, as the answerer loads it (its chat template from the file)."""
    # one thread: two spin-waiting threads run several times slower beside the other tests
    return Llama(model_path=str(path), n_ctx=1024, n_threads=1, n_threads_batch=1,
                 verbose=False, logits_all=True)  # fmt: skip


def prompt_of(llm: Llama, messages: list[dict[str, str]]) -> str:
    """The prompt text create_chat_completion builds from the GGUF's template."""
    assert llm.chat_format == "chat_template.default"  # the file's template, not a built-in one
    formatter = Jinja2ChatFormatter(
        template=llm.metadata["tokenizer.chat_template"], eos_token="<|im_end|>",
        bos_token="<|im_start|>",
    )  # fmt: skip
    return str(formatter(messages=messages).prompt)  # type: ignore[arg-type]


def reply_logprob(llm: Llama, messages: list[dict[str, str]], reply: str) -> float:
    """Mean log-probability per token of reply (and its end marker) after the prompt."""
    prompt = llm.tokenize(prompt_of(llm, messages).encode(), add_bos=False, special=True)
    wanted = llm.tokenize(f"{reply}<|im_end|>".encode(), add_bos=False, special=True)
    llm.reset()
    llm.eval(prompt + wanted)
    logits = np.asarray(llm.scores[len(prompt) - 1 : len(prompt) + len(wanted) - 1])
    logits = logits - logits.max(axis=1, keepdims=True)
    logp = logits - np.log(np.exp(logits).sum(axis=1, keepdims=True))
    return float(np.mean(logp[np.arange(len(wanted)), wanted]))


def greedy(llm: Llama, messages: list[dict[str, str]], tokens: int = 32) -> str:
    """The model's greedy reply."""
    llm.reset()
    reply = llm.create_chat_completion(
        messages=messages,  # type: ignore[arg-type]
        max_tokens=tokens, temperature=0,
    )  # fmt: skip
    return str(reply["choices"][0]["message"]["content"])  # type: ignore[index]


def run_trainer(tmp: Path, base: Path, steps: int, **settings: Any) -> tuple[RunConfig, list]:
    """Train in the tuning venv; the config and the events it reported."""
    config = RunConfig(
        base_gguf=str(base), examples=str(write_examples(tmp / "examples.jsonl")),
        work_dir=str(tmp / "run"), cache_dir=str(CACHE), steps=steps, threads=1,
        meta={"collection": "test"}, **settings,
    )  # fmt: skip
    events: list[dict[str, Any]] = []
    train(config, events.append)
    return config, events


@pytest.fixture(scope="module")
def base_llm(base: Path) -> Iterator[Llama]:
    """The packaged model in llama.cpp."""
    llm = load(base)
    yield llm
    llm.close()


def test_zero_steps_write_the_base_back_bit_for_bit(
    tmp_path: Path, base: Path, base_llm: Llama
) -> None:
    config, events = run_trainer(tmp_path, base, steps=0)
    assert [e["event"] for e in events] == ["loaded", "data", "written"]
    again = package(config.merged, tmp_path / "again.gguf", "Q4_1")  # the base's own encoding
    llm = load(again)
    messages = example(*FACTS[0])["messages"][:-1]
    tokens = llm.tokenize(prompt_of(llm, messages).encode(), add_bos=False, special=True)
    for model in (base_llm, llm):
        model.reset()
        model.eval(tokens)
    # same logits to the last bit: names, q/k row order, every value and the metadata survive
    assert np.array_equal(np.asarray(base_llm.scores[: len(tokens)]),
                          np.asarray(llm.scores[: len(tokens)]))  # fmt: skip
    assert greedy(llm, messages) == greedy(base_llm, messages)
    assert llm.metadata["tokenizer.chat_template"] == base_llm.metadata["tokenizer.chat_template"]
    assert llm.metadata["gptu.tune.collection"] == "test"
    assert llm.metadata["general.name"] == "gptu-tuned"


def test_training_sees_the_prompt_llama_cpp_serves(
    tmp_path: Path, base: Path, base_llm: Llama
) -> None:
    examples = write_examples(tmp_path / "examples.jsonl")
    shown = subprocess.run(
        [str(tune_python()), "-m", "tune.data", "--base", str(base), "--cache", str(CACHE),
         str(examples)],
        capture_output=True, text=True, cwd=ROOT, check=True,
    ).stdout.splitlines()  # fmt: skip
    assert len(shown) == len(FACTS)
    for line, fact in zip(shown, FACTS, strict=True):
        encoded = json.loads(line)
        messages = example(*fact)["messages"]
        prompt = prompt_of(base_llm, messages[:-1])
        assert SYSTEM_PROMPT in prompt and "<passages>" in prompt
        served = base_llm.tokenize(prompt.encode(), add_bos=False, special=True)
        assert encoded["prompt_ids"] == served
        reply = base_llm.tokenize(f"{fact[3]}<|im_end|>".encode(), add_bos=False, special=True)
        assert encoded["reply_ids"][: len(reply)] == reply  # the loss ends on the end marker


def test_a_tiny_tune_moves_the_model_towards_its_answers(
    tmp_path: Path, base: Path, base_llm: Llama
) -> None:
    config, events = run_trainer(tmp_path, base, steps=4, batch=2, lr=1e-3, save_every=2)
    losses = [e["loss"] for e in events if e["event"] == "step"]
    assert len(losses) == 4 and losses[-1] < losses[0]
    tuned = load(package(config.merged, tmp_path / "tuned.gguf", "Q4_0"))  # gptu tune's default
    gains = []
    for fact in FACTS:
        messages = example(*fact)["messages"]
        before = reply_logprob(base_llm, messages[:-1], fact[3])
        after = reply_logprob(tuned, messages[:-1], fact[3])
        gains.append(after - before)
    assert min(gains) > 0.3, gains  # nats per token, on every trained answer
    assert tuned.metadata["gptu.tune.steps"] == "4"


def test_a_missing_examples_file_fails_with_the_reason(tmp_path: Path, base: Path) -> None:
    config = RunConfig(base_gguf=str(base), examples=str(tmp_path / "none.jsonl"),
                       work_dir=str(tmp_path / "run"), steps=1)  # fmt: skip
    with pytest.raises(TuneFailed, match=r"none\.jsonl"):
        train(config)
    assert not config.merged.exists()


def test_a_full_disk_ends_the_run_with_the_reason_and_leaves_no_half_model(
    tmp_path: Path, base: Path
) -> None:
    run = tmp_path / "run"
    run.mkdir()
    # the merged model is written beside its final name first; /dev/full answers ENOSPC
    (run / "merged.f32.partial").symlink_to("/dev/full")
    with pytest.raises(TuneFailed, match=r"the disk is full writing .*merged\.f32\.partial") as err:
        run_trainer(tmp_path, base, steps=0)
    assert "--resume" in str(err.value)
    assert not (run / "merged.f32.gguf").exists() and not (run / "merged.f32.partial").exists()
