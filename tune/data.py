"""Chat examples as token ids, with the loss on the assistant's reply only."""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

IGNORE = -100  # the label torch's cross-entropy skips


@dataclass
class Encoded:
    """One example: the whole conversation's ids, and labels that are IGNORE on the prompt."""

    ids: list[int]
    labels: list[int]


def read_examples(path: Path) -> list[list[dict[str, str]]]:
    """The message lists of a JSON-lines file ({"messages": [...]} per line)."""
    examples = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        messages = json.loads(line).get("messages")
        if not messages or messages[-1].get("role") != "assistant":
            raise ValueError(f"{path}:{number}: messages must end with the assistant's reply")
        examples.append([{"role": m["role"], "content": m["content"]} for m in messages])
    return examples


def encode(messages: list[dict[str, str]], tokenizer: Any) -> Encoded:
    """The conversation through the GGUF's own chat template; the loss falls on the reply and
    its end-of-turn marker (so the model learns to stop), never on the prompt."""
    prompt = tokenizer.apply_chat_template(
        messages[:-1], tokenize=False, add_generation_prompt=True
    )
    full = tokenizer.apply_chat_template(messages, tokenize=False)
    if not full.startswith(prompt):
        raise ValueError("the chat template does not render the prompt as the reply's prefix")
    prompt_ids = tokenizer(prompt, add_special_tokens=False)["input_ids"]
    reply_ids = tokenizer(full[len(prompt) :], add_special_tokens=False)["input_ids"]
    return Encoded(prompt_ids + reply_ids, [IGNORE] * len(prompt_ids) + reply_ids)


def encode_all(
    examples: list[list[dict[str, str]]], tokenizer: Any, max_tokens: int
) -> tuple[list[Encoded], int]:
    """The examples that fit max_tokens, and how many did not."""
    encoded = [encode(messages, tokenizer) for messages in examples]
    kept = [e for e in encoded if len(e.ids) <= max_tokens]
    return kept, len(encoded) - len(kept)


def collate(batch: list[Encoded], pad_id: int) -> dict[str, Any]:
    """Right-padded tensors: input_ids, attention_mask, labels."""
    import torch

    width = max(len(e.ids) for e in batch)
    ids = [e.ids + [pad_id] * (width - len(e.ids)) for e in batch]
    labels = [e.labels + [IGNORE] * (width - len(e.labels)) for e in batch]
    mask = [[1] * len(e.ids) + [0] * (width - len(e.ids)) for e in batch]
    return {
        "input_ids": torch.tensor(ids),
        "attention_mask": torch.tensor(mask),
        "labels": torch.tensor(labels),
    }


def main(argv: list[str] | None = None) -> int:
    """`python -m tune.data --base X.gguf EXAMPLES.jsonl`: each example's prompt and reply token
    ids as JSON lines, to check them against what llama.cpp feeds the served model."""
    from tune.base import load_tokenizer

    parser = argparse.ArgumentParser(prog="python -m tune.data", description=main.__doc__)
    parser.add_argument("--base", type=Path, required=True, help="The base GGUF.")
    parser.add_argument("--cache", type=Path, default=None, help="The base models' cache.")
    parser.add_argument("examples", type=Path)
    args = parser.parse_args(argv)
    tokenizer = load_tokenizer(args.base, args.cache)
    for messages in read_examples(args.examples):
        encoded = encode(messages, tokenizer)
        cut = encoded.labels.count(IGNORE)
        print(json.dumps({"prompt_ids": encoded.ids[:cut], "reply_ids": encoded.ids[cut:]}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
