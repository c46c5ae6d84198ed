"""Guardrails on text: spot instructions aimed at an assistant, redact personal data."""

from __future__ import annotations

import re
from collections.abc import Callable

Check = Callable[[str], bool]

INJECTION = re.compile(
    r"\b(?:"
    r"(?:ignore|disregard|forget|override)\s+(?:all\s+|any\s+|the\s+|your\s+)*"
    r"(?:previous|prior|above|earlier|preceding|system|original)\s+"
    r"(?:instructions?|prompts?|rules|directions|messages?)"
    r"|you\s+are\s+now\s+(?:a|an|in)\b"
    r"|(?:reveal|print|show|repeat)\s+(?:me\s+)?(?:your|the)\s+(?:system\s+prompt|instructions)"
    r"|new\s+instructions?\s*:"
    r"|(?:answer|reply|respond)\s+(?:to\s+)?(?:every|all|each)\s+(?:question|message)s?\s+with"
    r"|do\s+not\s+(?:tell|inform|mention\s+to)\s+the\s+user"
    r"|(?:as|you\s+are)\s+(?:an?\s+)?(?:ai\s+)?(?:ai|assistant|language\s+model|chatbot)"
    r"\s*,?\s+(?:you\s+)?(?:must|should|will)\b"
    r")"
    r"|</?(?:system|assistant)>|\[/?INST\]|<\|im_start\|>",
    re.IGNORECASE,
)

EMAIL = re.compile(r"\b[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}\b")
IBAN = re.compile(r"\b[A-Z]{2}\d{2}(?:[ ]?[A-Z0-9]{4}){2,7}(?:[ ]?[A-Z0-9]{1,4})?\b")
CARD = re.compile(r"(?<![+\w])(?:\d[ -]?){12,18}\d\b")
PHONE = re.compile(r"(?<![\w+])(?:\+\d{1,3}[ .-]?)?(?:\(\d{1,5}\)[ .-]?)?\d[\d .-]{5,17}\d\b")


SENTENCE = re.compile(r"(?<=[.!?])\s+|\n+")
WITHHELD = "[instructions to an assistant withheld]"


def looks_like_injection(text: str) -> bool:
    """Whether text contains instructions aimed at an AI assistant (a prompt injection)."""
    return INJECTION.search(text) is not None


def withhold_instructions(text: str) -> str:
    """The text with every sentence that instructs an assistant replaced by a marker.

    The model never reads the instruction, so a model that would obey it cannot.
    """
    if not looks_like_injection(text):
        return text
    parts = SENTENCE.split(text)
    kept = [WITHHELD if looks_like_injection(part) else part for part in parts]
    return " ".join(part for part in kept if part.strip())


def luhn_ok(digits: str) -> bool:
    """The Luhn checksum of payment card numbers."""
    total = 0
    for i, ch in enumerate(reversed(digits)):
        n = int(ch)
        if i % 2:
            n = n * 2 - 9 if n > 4 else n * 2
        total += n
    return total % 10 == 0


def iban_ok(candidate: str) -> bool:
    """The ISO 13616 mod-97 check of an IBAN."""
    compact = candidate.replace(" ", "")
    if not 15 <= len(compact) <= 34:
        return False
    moved = compact[4:] + compact[:4]
    number = "".join(str(int(ch, 36)) for ch in moved)
    return int(number) % 97 == 1


def card_ok(value: str) -> bool:
    """A payment card number: 13-19 digits passing Luhn."""
    digits = re.sub(r"\D", "", value)
    return 13 <= len(digits) <= 19 and luhn_ok(digits)


def redact_pii(text: str) -> tuple[str, int]:
    """Replace e-mails, IBANs, card numbers and phone numbers; the text and how many."""
    total = 0
    for label, pattern, check in RULES:
        text, found = redact(pattern, label, check, text)
        total += found
    return text, total


def redact(pattern: re.Pattern[str], label: str, check: Check, text: str) -> tuple[str, int]:
    """Replace the matches that pass check with [LABEL]."""
    found = 0

    def replace(match: re.Match[str]) -> str:
        nonlocal found
        if not check(match.group(0)):
            return match.group(0)
        found += 1
        return f"[{label}]"

    return pattern.sub(replace, text), found


def looks_like_phone(value: str) -> bool:
    """7-15 digits written the way phone numbers are: +44 …, (020) …, 020 …, or 555-123-4567.

    Other digit groups (amounts, account fragments, dates) are left alone on purpose.
    """
    value = value.strip()
    digits = re.sub(r"\D", "", value)
    if not 7 <= len(digits) <= 15:
        return False
    if value.startswith(("+", "(", "0")):
        return len(re.findall(r"[ .-]", value)) >= 1 or value.startswith("+")
    return re.fullmatch(r"\d{3}[-.]\d{3}[-.]\d{4}", value) is not None


RULES: list[tuple[str, re.Pattern[str], Check]] = [
    ("EMAIL", EMAIL, lambda _: True),
    ("IBAN", IBAN, iban_ok),
    ("CARD", CARD, card_ok),
    ("PHONE", PHONE, looks_like_phone),
]
