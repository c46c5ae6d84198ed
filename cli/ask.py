"""The terminal side of `gptu ask`: the quote first, then the answer as it streams, then sources."""

from __future__ import annotations

import json

import httpx


def run_ask(api_url: str, key: str, question: str, collections: list[str] | None) -> int:
    """Ask and print; exit code 1 on an error answer."""
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    body = {"messages": [{"role": "user", "content": question}], "collections": collections}
    sources: list[dict] = []
    try:
        with httpx.stream(
            "POST", f"{api_url}/v1/chat", json=body, headers=headers, timeout=600
        ) as answer:
            if answer.status_code != 200:
                answer.read()
                print(f"error: {answer.json().get('error', {}).get('message', answer.text)}")
                return 1
            name = ""
            for line in answer.iter_lines():
                if line.startswith("event: "):
                    name = line[7:]
                elif line.startswith("data: "):
                    data = json.loads(line[6:])
                    if name == "sources":
                        sources = data
                    elif name == "quote":
                        show_quote(data)
                    elif name == "token":
                        print(data["text"], end="", flush=True)
                    elif name == "error":
                        print(f"\nerror: {data['message']}")
                        return 1
    except httpx.HTTPError as exc:
        print(f"error: cannot reach gptu at {api_url}: {exc}")
        return 2
    print()
    for source in sources:
        print(f"[{source['n']}] {source['label']}")
    return 0


def show_quote(quotes: list[dict]) -> None:
    """The source sentences that most likely answer, verbatim, before the model's answer."""
    for quote in quotes:
        text = " ".join(quote["text"].split())
        print(f"> {text}\n  ({quote['label']}) [{quote['n']}]")
    if quotes:
        print(flush=True)
