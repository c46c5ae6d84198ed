"""A tuned model is as secret as its data: in the permission matrix (tests/world.py), a model
tuned on the hr and all collections reaches alice and carol (who read both) and never bob,
on every surface: /v1/models, the OpenAI endpoint's `model`, the web chat's A/B test, Slack.

A third API process runs the A/B test `control` (1) against the tuned model (1000), answering
through the echo model, so what matters here is which model each caller is given."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import openai
import pytest

from cli.localstack import GPTU, Process, free_port, wait_until
from core.models import TUNED, ModelSpec, register_tuned
from tests.conftest import SIGNING_SECRET, Stack
from tests.servers import EchoModel, FakeSlack, slack_signature
from tests.world import QUESTION, USERS, World, slack_id

MAY_USE = {"alice": True, "bob": False, "carol": True}  # readers of both hr and all


@pytest.fixture(scope="module")
def tuned(stack: Stack, world: World, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The tuned model's name, registered in the stack's catalog; an API with its A/B test."""
    folder = tmp_path_factory.mktemp("tuned")
    name = f"hr-tuned-{world.tag}"
    models = Path(stack.env["GPTU_DATA_DIR"]) / "models"
    learnt = [world.collections["hr"], world.collections["all"]]
    # answers come from the echo model (GPTU_LLM_URL): the file is never opened here
    learnt_from = {"base": "smollm2-135m", "collections": learnt}
    register_tuned(models, ModelSpec(name, path=str(folder / "never.gguf"), tuned=learnt_from))
    variants = folder / "ab.toml"
    variants.write_text(
        f'name = "tuned-{world.tag}"\n[[variant]]\nname = "control"\nweight = 1\n'
        f'[[variant]]\nname = "tuned"\nmodel = "{name}"\nweight = 1000\n'
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
