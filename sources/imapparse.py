"""IMAP response parsing: imaplib's raw answer lines as nested values and FETCH fields."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any, TypeAlias

# A parsed IMAP response: atoms as str, strings (quoted or literal) as bytes, NIL as None.
Value: TypeAlias = "str | bytes | list[Value] | None"
OPEN, CLOSE = object(), object()
Fields: TypeAlias = "dict[str, Value]"  # one message's FETCH answer by item name
TOKEN = re.compile(rb'(\()|(\))|"((?:[^"\\]|\\.)*)"|([^\s()"\[]+(?:\[[^\]]*\](?:<\d+>)?)?)')
LITERAL_MARK = re.compile(rb"\{\d+\}\s*$")


def fetched(data: list[Any]) -> list[Fields]:
    """imaplib's FETCH answer as one {item name: value} per message."""
    answers = []
    for item in _tree(_tokens(data)):
        if isinstance(item, list):
            names = (as_text(name).upper() for name in item[::2])
            answers.append(dict(zip(names, item[1::2], strict=False)))
    return answers


def _tokens(data: list[Any]) -> Iterator[object]:
    """The tokens of imaplib's answer lines, a (line, literal) pair's literal as bytes."""
    for item in data:
        line, literal = item if isinstance(item, tuple) else (item, None)
        if not isinstance(line, bytes):
            continue
        if literal is not None:
            line = LITERAL_MARK.sub(b"", line)
        for match in TOKEN.finditer(line):
            opened, closed, quoted, atom = match.groups()
            if opened or closed:
                yield OPEN if opened else CLOSE
            elif quoted is not None:
                yield re.sub(rb"\\(.)", rb"\1", quoted)
            elif atom:
                yield None if atom.upper() == b"NIL" else atom.decode("utf-8", "replace")
        if literal is not None:
            yield bytes(literal)


def _tree(tokens: Iterator[object]) -> list[Value]:
    """Tokens nested by their parentheses."""
    stack: list[list[Value]] = [[]]
    for token in tokens:
        if token is OPEN:
            stack.append([])
        elif token is CLOSE:
            if len(stack) > 1:
                done = stack.pop()
                stack[-1].append(done)
        else:
            stack[-1].append(token)  # type: ignore[arg-type]
    return stack[0]


def pairs(value: Value) -> dict[str, str]:
    """A parenthesised ("key" "value" ...) list as a dict, keys in lower case."""
    if not isinstance(value, list):
        return {}
    return {as_text(k).lower(): as_text(v) for k, v in zip(value[::2], value[1::2], strict=False)}


def as_text(value: Value) -> str:
    """An atom or string as text ('' for NIL)."""
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return value if isinstance(value, str) else ""


def as_bytes(value: Value) -> bytes:
    """A string's bytes (b'' for NIL)."""
    return value.encode() if isinstance(value, str) else value if isinstance(value, bytes) else b""
