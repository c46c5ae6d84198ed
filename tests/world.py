"""The permission matrix's world: 3 users, 3 groups, 4 collections, a secret phrase per document.

A second API process answers through `EchoModel` (our OpenAI-style fake that repeats its
prompt), so an answer's text shows exactly which passages reached the model. Every surface's
permission tests (REST, Slack, the client, LangChain, MCP) ask this one world.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

from cli.localstack import GPTU, Process, Stack, free_port, wait_until
from gptu_client import Gptu
from tests.servers import EchoModel, FakeSlack

GROUPS = ("hr", "eng", "board")
MEMBERS = {"alice": ["hr"], "bob": ["eng"], "carol": ["hr", "board"]}
SECRETS = {"hr": "PLUM-HERON-41", "eng": "COBALT-OTTER-58", "board": "SAFFRON-LYNX-93",
           "all": "MAPLE-WREN-26"}  # fmt: skip
READERS = {"hr": ["hr"], "eng": ["eng"], "board": ["board"], "all": ["everyone"]}
ALLOWED = {"alice": {"hr", "all"}, "bob": {"eng", "all"}, "carol": {"hr", "board", "all"}}
QUESTION = "What is the codeword of the review?"
USERS = sorted(MEMBERS)


@dataclass
class World:
    """Users with keys, collections by short name, the echoing API's URL."""

    tag: str
    keys: dict[str, str]
    collections: dict[str, str]
    files: dict[str, str]
    documents: dict[str, str]
    echo_url: str

    def phrases(self, text: str) -> set[str]:
        """Which secret phrases (by short name) occur in text."""
        return {short for short, phrase in SECRETS.items() if phrase in text}

    def ours(self, collection: str) -> bool:
        """Whether a collection is one of the world's four (tests add others beside them)."""
        return collection in self.collections.values()


def slack_id(user: str, tag: str) -> str:
    """A Slack member id per user."""
    return f"U{user.upper()}{tag.upper()}"


@contextmanager
def make_world(stack: Stack, slack: FakeSlack, folder: Path) -> Iterator[World]:
    """Groups, users (with Slack e-mails), collections, one document per collection, the
    echoing API; the echoing API stops on exit."""
    tag = uuid.uuid4().hex[:6]
    keys, collections, files, documents = {}, {}, {}, {}
    with stack.client() as admin, Gptu(stack.api_url, stack.env["GPTU_ADMIN_TOKEN"]) as gptu:
        for group in GROUPS:
            admin.post("/v1/groups", json={"name": f"{group}-{tag}"}).raise_for_status()
        for user, groups in MEMBERS.items():
            name = f"{user}-{tag}"
            body = {"name": name, "email": f"{name}@example.org",
                    "groups": [f"{g}-{tag}" for g in groups]}  # fmt: skip
            admin.post("/v1/users", json=body).raise_for_status()
            keys[user] = admin.post(f"/v1/users/{name}/keys").json()["key"]
            slack.emails[slack_id(user, tag)] = f"{name}@example.org"
        for short, readers in READERS.items():
            name = collections[short] = f"{short}-{tag}"
            gptu.create_collection(name, readers=[r if r == "everyone" else f"{r}-{tag}"
                                                  for r in readers])  # fmt: skip
            files[short] = f"{short}-review-{tag}.md"
            text = f"# Review\n\nThe codeword of the review is {SECRETS[short]}.\n"
            [item] = gptu.upload(name, [(files[short], text.encode())])
            documents[short] = item.id
        done = gptu.wait_for(list(documents.values()), timeout=180)
        assert all(d.status == "ready" for d in done), done
    echo = EchoModel()
    env = {**stack.env, "GPTU_PORT": str(free_port()), "GPTU_LLM_URL": echo.url,
           "GPTU_MIN_SIMILARITY": "0"}  # fmt: skip
    url = f"http://127.0.0.1:{env['GPTU_PORT']}"
    api = Process([*GPTU, "serve"], env, folder / "api.log")
    api.start()
    try:
        wait_until(lambda: httpx.get(f"{url}/readyz").status_code == 200, 120, "echo API ready")
        yield World(tag, keys, collections, files, documents, url)
    finally:
        api.stop()
        echo.stop()
