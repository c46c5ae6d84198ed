"""A message's record from its BODYSTRUCTURE, and its .eml and attachments rebuilt from parts."""

from __future__ import annotations

import base64
import binascii
import hashlib
import itertools
import quopri
import re
import urllib.parse
from collections.abc import Iterator
from email.header import decode_header, make_header
from email.parser import BytesHeaderParser
from email.policy import default as default_policy
from email.utils import decode_rfc2231, parseaddr, parsedate_to_datetime
from typing import Any

from sources.base import ItemError
from sources.imapparse import Fields, Value, as_bytes, as_text, pairs

CONTENT_HEADERS = {b"content-type", b"content-transfer-encoding", b"mime-version"}


def describe(fields: Fields) -> dict[str, Any]:
    """A message's record from its FETCH answer: labels, text parts, attachments."""
    header = next((v for k, v in fields.items() if k.startswith("BODY[HEADER")), None)
    subject, label = _labels(as_bytes(header))
    parts = list(_parts(fields["BODYSTRUCTURE"], ""))
    files = [part for part in parts if _is_attachment(part)]
    bodies = [part for part in parts if part not in files and part["type"] == "text/plain"]
    bodies = bodies or [p for p in parts if p not in files and p["type"] == "text/html"]
    return {
        "subject": subject,
        "label": label,
        "texts": [
            [p["section"], p["type"], p["charset"], p["encoding"], p["size"]] for p in bodies
        ],
        "files": [
            [n, p["section"], _file_name(p, n), p["encoding"], p["size"]]
            for n, p in enumerate(files, 1)
        ],
    }


def _labels(header: bytes) -> tuple[str, str]:
    """The message's subject, and its label "<Subject> — <From>, <date>"."""
    parsed = BytesHeaderParser(policy=default_policy).parsebytes(header)
    subject = " ".join(str(parsed.get("subject", "")).split()) or "(no subject)"
    name, address = parseaddr(str(parsed.get("from", "")))
    label = f"{subject} — {name or address or 'unknown sender'}"
    try:
        return subject, f"{label}, {parsedate_to_datetime(str(parsed['date'])):%Y-%m-%d}"
    except (TypeError, ValueError, KeyError):
        return subject, label


def _parts(body: Value, section: str) -> Iterator[dict[str, Any]]:
    """The leaf parts of a BODYSTRUCTURE, each with its section number ("1", "2.1")."""
    if not isinstance(body, list) or not body:
        return
    if isinstance(body[0], list):
        children = itertools.takewhile(lambda child: isinstance(child, list), body)
        for n, child in enumerate(children, 1):
            yield from _parts(child, f"{section}.{n}" if section else str(n))
        return
    if len(body) < 7:
        return
    kind = f"{as_text(body[0])}/{as_text(body[1])}".lower()
    params = pairs(body[2])
    at = 9 if kind.startswith("text/") else 11 if kind == "message/rfc822" else 8
    found = body[at] if len(body) > at else None
    disposition: list[Value] = found if isinstance(found, list) and len(found) > 1 else [None, None]
    yield {
        "section": section or "1",
        "type": kind,
        "charset": params.get("charset", ""),
        "encoding": as_text(body[5]).lower() or "7bit",
        "size": int(as_text(body[6]) or 0),
        "disposition": as_text(disposition[0]).lower(),
        "filename": _filename(pairs(disposition[1]), "filename") or _filename(params, "name"),
    }


def _is_attachment(part: dict[str, Any]) -> bool:
    """Whether a part is an attachment (an inline picture without one is decoration)."""
    if part["disposition"] == "attachment" or part["type"] == "message/rfc822":
        return True
    return bool(part["filename"]) and not part["type"].startswith("image/")


def _file_name(part: dict[str, Any], number: int) -> str:
    """An attachment's file name, made up from its type when it has none."""
    if part["filename"]:
        return str(part["filename"]).replace("/", "_")
    if part["type"] == "message/rfc822":
        return f"attachment {number}.eml"
    return f"attachment {number}"


def _filename(params: dict[str, str], base: str) -> str:
    """A file name parameter, decoded (RFC 2231 "name*", continuations, or =?..?= words)."""
    if base in params:
        return str(make_header(decode_header(params[base])))
    pieces = sorted(
        (int(key[len(base) + 1 :].rstrip("*") or 0), key)
        for key in params
        if re.fullmatch(rf"{base}\*(\d+\*?)?", key)
    )
    if not pieces:
        return ""
    raw = "".join(params[key] for _, key in pieces)
    if not pieces[0][1].endswith("*"):
        return raw
    charset, _, text = decode_rfc2231(raw) if "'" in raw else (None, None, raw)
    return urllib.parse.unquote(text, encoding=charset or "utf-8", errors="replace")


def rebuild_eml(header: bytes, texts: list[list[Any]], bodies: list[bytes]) -> bytes:
    """An .eml of the message's header and its text parts only."""
    lines, keep = [], True
    for line in header.splitlines():
        if line[:1] not in (b" ", b"\t"):
            keep = bool(line.strip()) and line.split(b":")[0].strip().lower() not in CONTENT_HEADERS
        if keep:
            lines.append(line + b"\r\n")
    head = b"".join(lines) + b"MIME-Version: 1.0\r\n"
    if not texts:
        return head + b'Content-Type: text/plain; charset="utf-8"\r\n\r\n'
    if len(texts) == 1:
        return head + _part_head(texts[0]) + b"\r\n" + bodies[0]
    boundary = b"gptu-" + hashlib.sha256(b"".join(bodies)).hexdigest()[:32].encode()
    out = [head, b'Content-Type: multipart/mixed; boundary="' + boundary + b'"\r\n\r\n']
    for text, body in zip(texts, bodies, strict=True):
        out += [b"--" + boundary + b"\r\n", _part_head(text), b"\r\n", body, b"\r\n"]
    return b"".join([*out, b"--" + boundary + b"--\r\n"])


def _part_head(text: list[Any]) -> bytes:
    """A text part's MIME header from its record."""
    _, kind, charset, encoding, _ = text
    head = f"Content-Type: {kind}" + (f'; charset="{charset}"' if charset else "") + "\r\n"
    return (head + f"Content-Transfer-Encoding: {encoding}\r\n").encode("ascii", "replace")


def decode_part(encoding: str, data: bytes, label: str) -> bytes:
    """A part's bytes with its transfer encoding undone."""
    try:
        if encoding == "base64":
            return base64.b64decode(data)
    except binascii.Error as exc:
        raise ItemError(f"{label} cannot be decoded (broken base64: {exc})") from None
    return quopri.decodestring(data) if encoding == "quoted-printable" else data


def decoded_size(encoding: str, size: int) -> int:
    """A part's size once decoded, at most, from its encoded size (base64 in lines of 76
    characters and CRLF, less what padding the last line may hold)."""
    return max(0, size * 57 // 78 - 4) if encoding == "base64" else size
