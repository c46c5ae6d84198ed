"""Request bodies against the real API over raw sockets: an upload without a key is refused
before its body is read, and every body has a limit enforced while it arrives."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterable, Iterator
from urllib.parse import urlsplit

import httpx

from tests.conftest import Stack

BOUNDARY = "gptu-limit-test"
MB = 1 << 20


def exchange(
    stack: Stack, head: str, chunks: Iterable[bytes], timeout: float = 10
) -> tuple[int, dict]:
    """Send the request head, then the body's chunks from a thread (stopping when the server
    closes); the status and JSON body of the answer, or (0, {}) when none came in time."""
    where = urlsplit(stack.api_url)
    sock = socket.create_connection((where.hostname, where.port), timeout=timeout)

    def send() -> None:
        try:
            sock.sendall(head.encode())
            for chunk in chunks:
                sock.sendall(chunk)
        except OSError:  # the server answered and closed: the rest stays unsent
            pass

    sender = threading.Thread(target=send, daemon=True)
    sender.start()
    answer = b""
    try:
        while b"\r\n\r\n" not in answer or not complete(answer):
            got = sock.recv(65536)
            if not got:
                break
            answer += got
    except TimeoutError:
        return 0, {}
    finally:
        sock.close()
    status_line, _, rest = answer.partition(b"\r\n")
    body = rest.partition(b"\r\n\r\n")[2]
    return int(status_line.split()[1]), json.loads(body or b"{}")


def complete(answer: bytes) -> bool:
    """Whether an answer with a Content-Length has all of its body."""
    head, _, body = answer.partition(b"\r\n\r\n")
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            return len(body) >= int(line.split(b":")[1])
    return False


def request_head(path: str, headers: dict[str, str]) -> str:
    """An HTTP/1.1 request head."""
    lines = [f"POST {path} HTTP/1.1", "Host: 127.0.0.1"] + [f"{k}: {v}" for k, v in headers.items()]
    return "\r\n".join(lines) + "\r\n\r\n"


def file_part(name: str, size: int) -> Iterator[bytes]:
    """One multipart file part of `size` bytes, sent a MB at a time."""
    yield (
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="file"; filename="{name}"\r\n'
        "Content-Type: text/plain\r\n\r\n"
    ).encode()
    for start in range(0, size, MB):
        yield b"x" * min(MB, size - start)
    yield b"\r\n"


def chunked(parts: Iterable[bytes]) -> Iterator[bytes]:
    """The parts in HTTP chunked encoding."""
    for part in parts:
        yield f"{len(part):x}\r\n".encode() + part + b"\r\n"
    yield b"0\r\n\r\n"


def test_an_upload_without_a_key_is_refused_before_its_body_is_read(stack: Stack) -> None:
    head = request_head("/v1/documents", {
        "Content-Type": f"multipart/form-data; boundary={BOUNDARY}",
        "Content-Length": str(7 * MB),  # under the upload limit: only the key can refuse it
    })  # fmt: skip
    first = next(file_part("big.txt", 1024))  # the body begins, the rest never comes
    status, body = exchange(stack, head, [first], timeout=10)
    assert status == 401, "the API waited for the body of a request with no key"
    assert body["error"]["code"] == "unauthorized"

    status, body = exchange(stack, head.replace(str(7 * MB), str(50 << 30)), [first])
    assert status in (401, 413)  # 50 GB announced: refused at once, either way
    assert httpx.get(f"{stack.api_url}/healthz").status_code == 200


def test_an_upload_over_the_request_limit_stops_as_it_arrives(
    stack: Stack, api: httpx.Client, collection: str
) -> None:
    """Three files of 3 MB each, each under GPTU_MAX_UPLOAD_MB (5), together over
    GPTU_MAX_REQUEST_MB (8), sent chunked (no Content-Length to refuse at once)."""
    parts = [f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="collection"\r\n\r\n'
             f"{collection}\r\n".encode()]  # fmt: skip
    for n in range(3):
        parts.extend(file_part(f"part{n}.txt", 3 * MB))
    parts.append(f"--{BOUNDARY}--\r\n".encode())
    head = request_head("/v1/documents", {
        "Authorization": api.headers["authorization"],
        "Content-Type": f"multipart/form-data; boundary={BOUNDARY}",
        "Transfer-Encoding": "chunked",
    })  # fmt: skip
    status, body = exchange(stack, head, chunked(parts), timeout=60)
    assert status == 413, body
    assert body["error"]["code"] == "request_too_large"
    assert "GPTU_MAX_REQUEST_MB" in body["error"]["message"]
    assert api.get("/v1/documents", params={"collection": collection}).json() == []


def test_a_json_body_over_the_limit_is_refused_at_once_or_as_it_arrives(
    stack: Stack, api: httpx.Client
) -> None:
    announced = request_head("/v1/chat", {"Content-Type": "application/json",
                                          "Content-Length": str(3 << 30)})  # fmt: skip
    status, body = exchange(stack, announced, [b'{"messages": ['], timeout=10)
    assert status == 413, "the API waited for a 3 GB JSON body"
    assert body["error"]["code"] == "request_too_large"

    turn = json.dumps({"role": "user", "content": "y" * 19_000}).encode()
    parts = [b'{"messages": [', turn] + [b"," + turn] * 300 + [b"]}"]  # 5.7 MB of valid JSON
    head = request_head("/v1/chat", {"Authorization": api.headers["authorization"],
                                     "Content-Type": "application/json",
                                     "Transfer-Encoding": "chunked"})  # fmt: skip
    status, body = exchange(stack, head, chunked(parts), timeout=60)
    assert status == 413, body
    assert "GPTU_MAX_BODY_MB" in body["error"]["message"]


def test_every_message_of_an_openai_conversation_is_capped(api: httpx.Client) -> None:
    long_earlier = {"role": "user", "content": "background " * 2000}  # 22,000 characters
    answer = api.post("/v1/chat/completions", json={"messages": [
        long_earlier, {"role": "assistant", "content": "ok"},
        {"role": "user", "content": "When does the office open?"},
    ]})  # fmt: skip
    assert answer.status_code == 400, answer.text
    assert "at most 20000 characters" in answer.json()["error"]["message"]
    parts = [{"type": "text", "text": "a"}] * 101
    answer = api.post("/v1/chat/completions", json={"messages": [
        {"role": "user", "content": parts}]})  # fmt: skip
    assert answer.status_code == 400, answer.text
