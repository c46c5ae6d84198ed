"""Slack flood: how fast signed events are acknowledged, and how long until all are answered.

Starts the stack with the bot pointed at a local Slack Web API recorder (tests/servers.py),
links one user with a collection, then sends N mentions (sequentially, then N more from 8
threads at once) and prints ack latency p50/p95/max (Slack's limit is 3 s) and the time until
every question had its answer posted.

Run: `.venv/bin/python bench/slack.py [--events 50]`.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from cli.localstack import Stack, stack_env, start_stack, wait_until
from core.offline import go_offline
from core.scoring import percentile
from tests.servers import BOT_USER, FakeSlack, slack_signature

SECRET = "bench-signing-secret-0123456789"
FACT = b"# Bikes\n\nThe bike shed behind building C opens at 6:30 and closes at 21:00.\n"


def mention(stack: Stack, channel: str, i: int) -> float:
    """Send one signed app_mention; seconds until Slack would have its ack."""
    event = {"type": "app_mention", "user": "UBENCH", "channel": channel, "ts": f"9.{i:05}",
             "text": f"<@{BOT_USER}> When does the bike shed open? ({i})"}  # fmt: skip
    body = json.dumps({"type": "event_callback", "event_id": f"Ev{uuid.uuid4().hex}",
                       "event": event}).encode()  # fmt: skip
    headers = {"content-type": "application/json", **slack_signature(SECRET, body)}
    started = time.perf_counter()
    answer = httpx.post(f"{stack.api_url}/slack/events", content=body, headers=headers)
    answer.raise_for_status()
    return time.perf_counter() - started


def flood(stack: Stack, slack: FakeSlack, n: int, threads: int) -> None:
    """Send n mentions and report ack latency and time to the last answer."""
    channel = f"CBENCH{threads}"
    started = time.perf_counter()
    with ThreadPoolExecutor(threads) as pool:
        acks = list(pool.map(lambda i: mention(stack, channel, i), range(n)))
    sent = time.perf_counter() - started
    wait_until(lambda: len(slack.posts("chat.update", channel=channel)) >= n, 3600, "answers")
    done = time.perf_counter() - started
    print(f"{n} events from {threads} thread(s): ack p50 {percentile(acks, 50) * 1000:.0f} ms, "
          f"p95 {percentile(acks, 95) * 1000:.0f} ms, max {max(acks) * 1000:.0f} ms "
          f"(limit 3000 ms); all sent in {sent:.1f} s, all answered after {done:.1f} s "
          f"({done / n:.2f} s per answer)")  # fmt: skip


def main() -> None:
    """Start, link, flood, report."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=50)
    args = parser.parse_args()
    go_offline()
    slack = FakeSlack()
    slack.emails["UBENCH"] = "bench@example.org"
    with tempfile.TemporaryDirectory() as tmp:
        slack_env = {"GPTU_SLACK_BOT_TOKEN": "xoxb-test", "GPTU_SLACK_SIGNING_SECRET": SECRET,
                     "GPTU_SLACK_API_URL": f"{slack.url}/api/"}  # fmt: skip
        env = stack_env(Path(tmp), **slack_env)
        stack = start_stack(Path(tmp), env)
        try:
            with stack.client() as admin:
                admin.post("/v1/users", json={"name": "bench", "email": "bench@example.org"})
                admin.post("/v1/collections", json={"name": "bikes", "readers": ["everyone"]})
                item = admin.post("/v1/documents", data={"collection": "bikes"},
                                  files=[("file", ("bikes.md", FACT))]).json()[0]  # fmt: skip
                wait_until(lambda: admin.get(f"/v1/documents/{item['id']}").json()["status"]
                           == "ready", 120, "ingestion")  # fmt: skip
            flood(stack, slack, args.events, 1)
            flood(stack, slack, args.events, 8)
        finally:
            stack.stop()
            slack.stop()


if __name__ == "__main__":
    main()
