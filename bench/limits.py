"""Oversized and keyless request bodies against a real stack: how long until the API answers,
and how many MB it took in before it did.

Starts Redis, Chroma, a worker and the API (default limits: GPTU_MAX_REQUEST_MB 256,
GPTU_MAX_BODY_MB 4) in a temporary folder, then streams each request body over a raw socket
(chunked, so no Content-Length refuses it at once) until the API answers or the body ends.

Run: `.venv/bin/python bench/limits.py [--mb 1024]`.
"""

from __future__ import annotations

import argparse
import json
import socket
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from cli.localstack import stack_env, start_stack

BOUNDARY = "gptu-bench"
MB = 1 << 20


def body(kind: str, collection: str, mb: int) -> Iterator[bytes]:
    """The request body, a MB at a time: an upload of one big file, or one JSON message."""
    if kind == "json":
        yield b'{"messages": [{"role": "user", "content": "'
        for _ in range(mb):
            yield b"y" * MB
        yield b'"}]}'
        return
    yield (f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="collection"\r\n\r\n'
           f"{collection}\r\n--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"file\"; "
           'filename="big.txt"\r\nContent-Type: text/plain\r\n\r\n').encode()  # fmt: skip
    for _ in range(mb):
        yield b"x" * MB
    yield f"\r\n--{BOUNDARY}--\r\n".encode()


def send(
    url: str, path: str, headers: dict[str, str], chunks: Iterator[bytes]
) -> tuple[int, float, float]:
    """Stream the body chunked; (status, seconds to the answer, MB sent before it)."""
    where = urlsplit(url)
    sock = socket.create_connection((where.hostname, where.port), timeout=600)
    head = [f"POST {path} HTTP/1.1", "Host: 127.0.0.1", "Transfer-Encoding: chunked"]
    head += [f"{k}: {v}" for k, v in headers.items()]
    sent = 0
    answered = threading.Event()

    def push() -> None:
        nonlocal sent
        try:
            sock.sendall(("\r\n".join(head) + "\r\n\r\n").encode())
            for chunk in chunks:
                if answered.is_set():
                    return
                sock.sendall(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n")
                sent += len(chunk)
            sock.sendall(b"0\r\n\r\n")
        except OSError:
            pass

    started = time.monotonic()
    pusher = threading.Thread(target=push, daemon=True)
    pusher.start()
    reply = sock.recv(65536)
    took = time.monotonic() - started
    answered.set()
    sock.close()
    status = int(reply.split(b" ", 2)[1]) if reply else 0
    return status, took, sent / MB


def main() -> None:
    """Start a stack, send each request, print one line each."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--mb", type=int, default=1024, help="body size of each request")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="gptu-limits-") as tmp:
        env = stack_env(Path(tmp))
        stack = start_stack(Path(tmp), env)
        try:
            with stack.client() as api:
                api.post("/v1/collections", json={"name": "bench"}).raise_for_status()
                key = api.headers["authorization"]
            form = {"Content-Type": f"multipart/form-data; boundary={BOUNDARY}"}
            cases = [
                ("upload, no key", "/v1/documents", form, "upload"),
                ("upload, with key", "/v1/documents", {**form, "Authorization": key}, "upload"),
                ("chat JSON, with key", "/v1/chat",
                 {"Content-Type": "application/json", "Authorization": key}, "json"),
            ]  # fmt: skip
            for label, path, headers, kind in cases:
                status, took, sent = send(
                    stack.api_url, path, headers, body(kind, "bench", args.mb)
                )
                print(f"{label:22} {args.mb} MB body: answered {status} after {took:6.2f} s, "
                      f"having taken in {sent:7.1f} MB")  # fmt: skip
            with stack.client() as api:
                docs = api.get("/v1/documents", params={"collection": "bench"}).json()
            print(json.dumps({"documents_stored": len(docs)}))
        finally:
            stack.stop()


if __name__ == "__main__":
    main()
