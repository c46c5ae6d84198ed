"""A tuned model is as secret as its data: in the permission matrix (tests/world.py), a model
tuned on the hr and all collections reaches alice and carol (who read both) and never bob,
on every surface: /v1/models, the OpenAI endpoint's `model`, the web chat's A/B test, Slack.

A third API process runs the A/B test `control` (1) against the tuned model (1000), answering
through the echo model, so what matters here is which model each caller is given. A tuned model
follows the collections it learnt from, not their names: a new collection of a deleted one's name
gives nobody the model; given by its file's path it keeps its restriction; and behind a remote
server, whose weights gptu cannot check, it is refused at startup."""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest

from cli.importer import sha256_of
from cli.localstack import GPTU, Process, free_port, wait_until
from core.models import TUNED, ModelSpec, model_file, register_tuned, resolve
from core.settings import Settings
from tests.conftest import SIGNING_SECRET, Stack, sql
from tests.servers import EchoModel, FakeSlack, slack_signature
from tests.world import QUESTION, USERS, World, slack_id

MAY_USE = {"alice": True, "bob": False, "carol": True}  # readers of both hr and all


@dataclass
class Source:
    """A collection only dave reads, with a model tuned on it (an A/B variant, as the other)."""

    collection: str
    model: str
    keys: dict[str, str]  # dave (who made it) and erin (who will make one of the same name)


def collection_id(stack: Stack, name: str) -> str:
    """The id of the collection called name, now."""
    [(found,)] = sql(stack, "SELECT id FROM collections WHERE name = :name", name=name)
    return str(found)


def learnt(stack: Stack, *names: str) -> dict[str, Any]:
    """A tuned entry's record of what it learnt from, as `gptu tune` writes it."""
    ids = [collection_id(stack, name) for name in names]
    return {"base": "smollm2-135m", "collections": list(names), "collection_ids": ids}


@pytest.fixture(scope="module")
def source(stack: Stack, world: World) -> Source:
    """Users dave and erin (no groups); dave's collection `source-<tag>`, read by him alone."""
    keys = {}
    with stack.client() as admin:
        for user in ("dave", "erin"):
            admin.post("/v1/users", json={"name": f"{user}-{world.tag}"}).raise_for_status()
            keys[user] = admin.post(f"/v1/users/{user}-{world.tag}/keys").json()["key"]
    collection = f"source-{world.tag}"
    dave = {"authorization": f"Bearer {keys['dave']}"}
    httpx.post(f"{stack.api_url}/v1/collections", json={"name": collection},
               headers=dave).raise_for_status()  # fmt: skip
    return Source(collection, f"source-tuned-{world.tag}", keys)


@pytest.fixture(scope="module")
def tuned(
    stack: Stack, world: World, source: Source, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """The tuned models, registered in the stack's catalog (hr-tuned on hr and all, and
    source-tuned on dave's collection); an API with them in its A/B test."""
    folder = tmp_path_factory.mktemp("tuned")
    name = f"hr-tuned-{world.tag}"
    models = Path(stack.env["GPTU_DATA_DIR"]) / "models"
    # answers come from the echo model (GPTU_LLM_URL): the files are never opened here
    hr = learnt(stack, world.collections["hr"], world.collections["all"])
    register_tuned(models, ModelSpec(name, path=str(folder / "never.gguf"), tuned=hr))
    daves = learnt(stack, source.collection)
    register_tuned(models, ModelSpec(source.model, path=str(folder / "nor.gguf"), tuned=daves))
    variants = folder / "ab.toml"
    variants.write_text(  # only dave reads source-tuned's collection: the others' tests keep 1:1000
        f'name = "tuned-{world.tag}"\n[[variant]]\nname = "control"\nweight = 1\n'
        f'[[variant]]\nname = "tuned"\nmodel = "{name}"\nweight = 1000\n'
        f'[[variant]]\nname = "source"\nmodel = "{source.model}"\nweight = 1\n'
    )
    echo = EchoModel()
    env = {**stack.env, "GPTU_PORT": str(free_port()), "GPTU_LLM_URL": echo.url,
           "GPTU_MIN_SIMILARITY": "0", "GPTU_VARIANTS_FILE": str(variants)}  # fmt: skip
    api = Process([*GPTU, "serve"], env, folder / "api.log")
    api.start()
    url = f"http://127.0.0.1:{env['GPTU_PORT']}"
    try:
        wait_until(lambda: httpx.get(f"{url}/readyz").status_code == 200, 120, "A/B API ready")
        yield url
    finally:
        api.stop()
        echo.stop()
        (models / TUNED).unlink(missing_ok=True)


@pytest.mark.parametrize("user", USERS)
def test_the_tuned_model_reaches_only_readers_of_all_its_collections(
    world: World, slack: FakeSlack, tuned: str, user: str
) -> None:
    name, key, allowed = f"hr-tuned-{world.tag}", world.keys[user], MAY_USE[user]
    auth = {"authorization": f"Bearer {key}"}
    with httpx.Client(base_url=tuned, headers=auth, timeout=60) as api:
        listed = [m["id"] for m in api.get("/v1/models").json()["data"]]
        assert listed == (["smollm2-135m", name] if allowed else ["smollm2-135m"])

        client = openai.OpenAI(base_url=f"{tuned}/v1", api_key=key)
        asked = client.chat.completions.create(
            model=name, messages=[{"role": "user", "content": QUESTION}]
        )
        assert asked.model == (name if allowed else "smollm2-135m")

        chat = api.post("/v1/chat", json={"messages": [{"role": "user", "content": QUESTION}],
                                          "stream": False, "save": False})  # fmt: skip
        assert chat.status_code == 200, chat.text
        trace = api.get(f"/v1/traces/{chat.json()['trace_id']}").json()
        # 1000:1 for the tuned variant, among those who may have it; the control otherwise
        assert (trace["variant"], trace["model"]) == (
            ("tuned", name) if allowed else ("control", "smollm2-135m")
        )

        channel = f"CT{world.tag}{user}"
        event = {"type": "app_mention", "user": slack_id(user, world.tag), "channel": channel,
                 "ts": "1800000000.000200", "text": f"<@UGPTUBOT> {QUESTION}"}  # fmt: skip
        body = json.dumps({"type": "event_callback", "event_id": f"EvT{world.tag}{user}",
                           "event": event}).encode()  # fmt: skip
        headers = {"content-type": "application/json", **slack_signature(SIGNING_SECRET, body)}
        assert httpx.post(f"{tuned}/slack/events", content=body, headers=headers).is_success
        wait_until(lambda: slack.posts("chat.update", channel=channel), 120, "Slack answer")
        [slacked] = api.get("/v1/traces", params={"surface": "slack", "limit": 1}).json()
        assert slacked["model"] == (name if allowed else "smollm2-135m")


def offered(url: str, key: str) -> list[str]:
    """The models /v1/models lists for the key's user."""
    listed = httpx.get(f"{url}/v1/models", headers={"authorization": f"Bearer {key}"}, timeout=60)
    return [m["id"] for m in listed.json()["data"]]


def test_a_new_collection_of_a_deleted_ones_name_does_not_inherit_its_tuned_model(
    stack: Stack, world: World, source: Source, tuned: str
) -> None:
    dave, erin = source.keys["dave"], source.keys["erin"]
    assert offered(tuned, dave) == ["smollm2-135m", source.model]  # he reads what it learnt
    with stack.client() as admin:
        admin.delete(f"/v1/collections/{source.collection}").raise_for_status()
        assert offered(tuned, dave) == ["smollm2-135m"]
        # erin makes a collection of the same name: hers, but not what the model learnt from
        made = httpx.post(f"{stack.api_url}/v1/collections", json={"name": source.collection},
                          headers={"authorization": f"Bearer {erin}"})  # fmt: skip
        assert made.status_code == 201, made.text
        assert offered(tuned, erin) == ["smollm2-135m"]
        client = openai.OpenAI(base_url=f"{tuned}/v1", api_key=erin)
        asked = client.chat.completions.create(
            model=source.model, messages=[{"role": "user", "content": QUESTION}]
        )
        assert asked.model == "smollm2-135m"
        # what it learnt from is gone: nobody may use it, an administrator neither
        everyone = offered(tuned, stack.env["GPTU_ADMIN_TOKEN"])
        assert everyone == ["smollm2-135m", f"hr-tuned-{world.tag}"]


def test_a_tuned_model_given_by_its_files_path_keeps_its_restriction(
    stack: Stack, world: World, tmp_path: Path
) -> None:
    # a copy of the packaged model's file stands in for a tuned one: what matters is its bytes
    cache = Settings(data_dir=stack.data_dir).model_cache
    registered = tmp_path / "registered" / "hr-path.Q4_0.gguf"
    registered.parent.mkdir()
    shutil.copyfile(model_file(resolve("smollm2-135m", cache), cache), registered)
    name = f"hr-path-{world.tag}"
    hr = learnt(stack, world.collections["hr"], world.collections["all"])
    spec = ModelSpec(name, path=str(registered), sha256=sha256_of(registered), tuned=hr)
    models = stack.data_dir / "models"
    register_tuned(models, spec)
    given = tmp_path / "elsewhere" / "copy.gguf"  # another path to the same bytes
    given.parent.mkdir()
    os.link(registered, given)
    env = {**stack.env, "GPTU_PORT": str(free_port()), "GPTU_MODEL": str(given)}
    env.pop("GPTU_LLM_URL", None)
    api = Process([*GPTU, "serve"], env, tmp_path / "api.log")
    api.start()
    url = f"http://127.0.0.1:{env['GPTU_PORT']}"
    try:
        up = lambda: api.proc.poll() is not None or httpx.get(f"{url}/readyz").is_success  # noqa: E731
        wait_until(up, 180, "API ready")
        assert api.proc.poll() is None, (tmp_path / "api.log").read_text()[-2000:]
        assert offered(url, world.keys["bob"]) == ["smollm2-135m"]  # its base, not the file
        assert offered(url, world.keys["alice"]) == [name, "smollm2-135m"]
    finally:
        api.stop()
        forget(models, name)


def forget(models: Path, name: str) -> None:
    """Take one entry out of tuned.json (the module's fixture removes the file at its end)."""
    path = models / TUNED
    entries = json.loads(path.read_text(encoding="utf-8"))
    entries.pop(name, None)
    path.write_text(json.dumps(entries), encoding="utf-8")


@pytest.mark.parametrize(
    "remote",
    [
        {"GPTU_MODEL": "hr"},
        {"GPTU_MODEL": "hr", "GPTU_LLM_MODEL": "what-the-server-calls-it"},
        {"GPTU_LLM_MODEL": "hr"},
    ],
    ids=["tuned-default", "tuned-default-renamed", "tuned-server-model"],
)
def test_a_tuned_default_behind_a_remote_server_is_refused_at_startup(
    stack: Stack, world: World, tuned: str, tmp_path: Path, remote: dict[str, str]
) -> None:
    named = {key: f"hr-tuned-{world.tag}" if value == "hr" else value
             for key, value in remote.items()}  # fmt: skip
    echo = EchoModel()  # a server that would answer: gptu must not start all the same
    env = {**stack.env, "GPTU_PORT": str(free_port()), "GPTU_LLM_URL": echo.url, **named}
    log = tmp_path / "api.log"
    api = Process([*GPTU, "serve"], env, log)
    api.start()
    url = f"http://127.0.0.1:{env['GPTU_PORT']}"
    try:
        ready = lambda: httpx.get(f"{url}/readyz").is_success  # noqa: E731
        wait_until(lambda: api.proc.poll() is not None or ready(), 120, "the API to decide")
        assert api.proc.poll() == 1, "the API started"
        said = log.read_text(errors="replace")
        assert f"error: hr-tuned-{world.tag} is a model `gptu tune` made" in said, said[-3000:]
        assert "GPTU_LLM_URL" in said
    finally:
        api.stop()
        echo.stop()
