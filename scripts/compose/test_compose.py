"""`make test-compose`: build our image from the real Dockerfile and run the real
docker-compose.yml with rootful podman and podman-compose, then use it as an IT team would.

Steps, each timed: stand-in base images (scripts/compose/standins.sh, cached), our image,
`up`, the API ready, two files of different formats (a PDF, a legacy .doc for LibreOffice)
uploaded and ready, a question whose quote comes from the PDF, `gptu migrate` again (a no-op),
the api service restarted and asked again, `down -v`. Prints a table and writes it as JSON to
$GPTU_PODMAN_HOME/test-compose.json. Exit 1 on the first step that fails, with the logs of
every service.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(ROOT))

from cli.localstack import free_port, wait_until  # noqa: E402

CORPUS = ROOT.parent / "shared" / "corpus"
FILES = ["fake-memo.pdf", "fake-doc-emphasized-text.doc"]  # a text PDF; Word 97 via LibreOffice
QUESTION = "How many blankets were delivered on January 23, 2023?"
EXPECTED = ("fake-memo.pdf", "10,000 blankets")
PROJECT = "gptu-compose-test"
IMAGE = "localhost/gptu:local"


class Failed(Exception):
    """A step did not do what it should; the message says what."""


def podman_env() -> dict[str, str]:
    """The environment podman-env.sh sets up (its own storage and settings), plus a free port."""
    script = f"source {HERE / 'podman-env.sh'} >&2 && env -0"
    out = subprocess.run(["bash", "-c", script], check=True, stdout=subprocess.PIPE).stdout
    env = dict(item.split("=", 1) for item in out.decode().split("\0") if "=" in item)
    env["GPTU_PORT"] = str(free_port())
    env["PATH"] = f"{Path(sys.executable).parent}:{env.get('PATH', '')}"  # podman-compose
    return env


class Run:
    """Runs commands in podman's environment and times named steps."""

    def __init__(self, env: dict[str, str]) -> None:
        self.env = env
        self.timings: list[tuple[str, float]] = []
        self.home = Path(env["GPTU_PODMAN_HOME"])

    def cmd(self, *args: str, timeout: float = 600, quiet: bool = True) -> str:
        """Run a command; Failed with its output's tail when it exits non-zero."""
        done = subprocess.run(
            list(args), env=self.env, cwd=ROOT, capture_output=quiet, text=True, timeout=timeout
        )
        if done.returncode != 0:
            tail = ((done.stdout or "") + (done.stderr or ""))[-3000:]
            raise Failed(f"`{' '.join(args)}` exited {done.returncode}:\n{tail}")
        return done.stdout or ""

    def compose(self, *args: str, timeout: float = 600) -> str:
        """podman-compose on the project's own compose file, under a project name of our own."""
        return self.cmd("podman-compose", "-p", PROJECT, "-f", "docker-compose.yml", *args,
                        timeout=timeout)  # fmt: skip

    @contextmanager
    def step(self, name: str) -> Iterator[None]:
        """Time a step and print it as it ends."""
        started = time.monotonic()
        print(f"· {name} …", flush=True)
        yield
        took = time.monotonic() - started
        self.timings.append((name, took))
        print(f"  {name}: {took:.1f} s", flush=True)


def ready(url: str) -> bool:
    """/readyz says ready."""
    return httpx.get(f"{url}/readyz", timeout=5).status_code == 200


def admin_key(run: Run) -> str:
    """The key the API printed on its first start (no GPTU_ADMIN_TOKEN in compose)."""
    done = subprocess.run(["podman", "logs", f"{PROJECT}_api_1"], env=run.env,
                          capture_output=True, text=True)  # fmt: skip
    logs = done.stdout + done.stderr
    found = re.search(r"API key, shown only now:\s+(gptu_\S+)", logs)
    if not found:
        raise Failed("the api service printed no admin key on its first start")
    return found.group(1)


def logs_of(run: Run) -> str:
    """podman logs of every container of the project (for a failure)."""
    names = run.cmd("podman", "ps", "-a", "--format", "{{.Names}}", "--filter",
                    f"label=io.podman.compose.project={PROJECT}").split()  # fmt: skip
    out = []
    for name in names:
        done = subprocess.run(["podman", "logs", "--tail", "40", name], env=run.env,
                              capture_output=True, text=True)  # fmt: skip
        out.append(f"--- {name}\n{done.stdout}{done.stderr}")
    return "\n".join(out)


def ask(api: httpx.Client) -> dict[str, Any]:
    """The question, answered whole; Failed unless its quote comes from the PDF."""
    body = {"messages": [{"role": "user", "content": QUESTION}], "stream": False}
    answer = api.post("/v1/chat", json=body, timeout=300)
    if answer.status_code != 200:
        raise Failed(f"/v1/chat answered {answer.status_code}: {answer.text[:500]}")
    result: dict[str, Any] = answer.json()
    quote = result["quote"][0] if result["quote"] else {}
    if quote.get("filename") != EXPECTED[0] or EXPECTED[1] not in quote.get("text", ""):
        raise Failed(f"the quote is not the memo's line: {json.dumps(result)[:800]}")
    sources = {s["n"]: s["filename"] for s in result["sources"]}
    if any(sources.get(n) not in FILES for n in result["citations"]):
        raise Failed(f"a citation names no uploaded file: {result['citations']} of {sources}")
    return result


def sync_a_source(api: httpx.Client) -> None:
    """A folder source over the image's model catalog (/app/models): beat must send its sync,
    a worker run it, and its files end ready."""
    made = api.post("/v1/sources", json={
        "name": "catalog", "kind": "folder", "collection": "compose",
        "settings": {"path": "/app/models"}, "secrets": {},
    })  # fmt: skip
    if made.status_code != 201:
        raise Failed(f"adding a source answered {made.status_code}: {made.text[:500]}")

    def synced() -> dict[str, Any] | None:
        row: dict[str, Any] = api.get("/v1/sources/catalog").json()
        return row if row["last_sync"] and not row["syncing"] else None

    row = wait_until(synced, 300, "beat's first sync of the source", 1)
    if row["error"] or not row["counts"].get("new"):
        raise Failed(f"the source's sync in the image: {row}")
    docs = api.get("/v1/documents", params={"collection": "compose"}).json()
    names = {d["filename"] for d in docs}
    if "README.md" not in names:
        raise Failed(f"the source's README.md is not a document: {sorted(names)}")


def exercise(run: Run) -> dict[str, Any]:
    """Every step from the stand-ins to `down -v`; the figures."""
    figures: dict[str, Any] = {}
    with run.step("stand-in base images (cached after the first run)"):
        run.cmd("bash", str(HERE / "standins.sh"), quiet=False, timeout=1800)
    with run.step("our image from the Dockerfile (llama.cpp compiled on a cold cache)"):
        log = run.home / "build.log"
        with log.open("w") as out:
            volumes = run.env.get("GPTU_BUILD_VOLUMES", "").split()  # this machine's pip
            done = subprocess.run(["podman", "build", *volumes, "-t", IMAGE, "."], env=run.env,
                                  cwd=ROOT, stdout=out, stderr=subprocess.STDOUT,
                                  timeout=3600)  # fmt: skip
        if done.returncode != 0:
            raise Failed(f"podman build failed:\n{log.read_text()[-3000:]}")
    size = int(run.cmd("podman", "image", "inspect", "--format", "{{.Size}}", IMAGE).strip())
    figures["image_mb"] = round(size / 1e6)
    print(f"  image size: {figures['image_mb']} MB", flush=True)

    url = f"http://127.0.0.1:{run.env['GPTU_PORT']}"
    with run.step("compose up"):
        run.compose("down", "-v", timeout=300)  # a run that was cut short
        # --no-deps: podman 4.3 cannot start a container that --requires a one-shot one
        # ("not found in input list"); gptu's services wait for each other themselves.
        run.compose("up", "-d", "--no-build", "--no-deps", timeout=600)
    with run.step("API ready (/readyz)"):
        wait_until(lambda: ready(url), 600, "ready", 1)
    key = wait_until(lambda: admin_key(run), 60, "the admin key in the api's log", 1)
    api = httpx.Client(base_url=url, timeout=120, headers={"Authorization": f"Bearer {key}"})
    with run.step("two files (PDF, legacy .doc) uploaded and ready"):
        api.post("/v1/collections", json={"name": "compose"}).raise_for_status()
        files = [("file", (name, (CORPUS / name).read_bytes())) for name in FILES]
        sent = api.post("/v1/documents", data={"collection": "compose"}, files=files)
        if sent.status_code != 202:
            raise Failed(f"upload answered {sent.status_code}: {sent.text[:500]}")
        ids = [item["id"] for item in sent.json()]

        def states() -> dict[str, dict[str, Any]]:  # empty until every one has settled
            docs = {i: api.get(f"/v1/documents/{i}").json() for i in ids}
            done = all(d["status"] in ("ready", "failed") for d in docs.values())
            return docs if done else {}

        docs = wait_until(states, 600, "both documents ready or failed", 1)
        failed = {d["filename"]: d.get("error") for d in docs.values() if d["status"] != "ready"}
        if failed:
            raise Failed(f"documents failed in the image: {failed}")
    with run.step("a source synced by beat and the worker (a folder in the image)"):
        sync_a_source(api)
    with run.step("question answered, quoting the PDF"):
        first = ask(api)
    figures["answer"] = first["answer"][:200]
    with run.step("gptu migrate again (a no-op)"):
        said = run.compose("run", "--rm", "migrate", timeout=300)
        if "nothing to do" not in said:
            raise Failed(f"the second migrate was not a no-op: {said[-500:]}")
    with run.step("api restarted, ready and asked again"):
        run.compose("restart", "api", timeout=300)
        wait_until(lambda: ready(url), 300, "ready", 1)
        ask(api)
    api.close()
    with run.step("compose down -v"):
        run.compose("down", "-v", timeout=300)
    return figures


def main() -> int:
    missing = [name for name in FILES if not (CORPUS / name).is_file()]
    if missing:
        print(f"test-compose reads {missing} from {CORPUS} (the shared corpus)", file=sys.stderr)
        return 1
    started = time.monotonic()
    run = Run(podman_env())
    try:
        figures = exercise(run)
    except (Failed, TimeoutError, httpx.HTTPError, subprocess.TimeoutExpired) as exc:
        print(f"\ntest-compose FAILED: {exc}\n", file=sys.stderr)
        try:
            print(logs_of(run), file=sys.stderr)
            run.compose("down", "-v", timeout=300)
        except Exception as cleanup:  # keep the first failure as the message
            print(f"(cleaning up also failed: {cleanup})", file=sys.stderr)
        return 1
    total = time.monotonic() - started
    print("\ntest-compose passed")
    print(f"{'step':<70} {'seconds':>8}")
    for name, took in run.timings:
        print(f"{name:<70} {took:>8.1f}")
    print(f"{'total':<70} {total:>8.1f}")
    print(f"image size: {figures['image_mb']} MB")
    report = {"steps": dict(run.timings), "total_s": round(total, 1), **figures}
    (run.home / "test-compose.json").write_text(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    sys.exit(main())
