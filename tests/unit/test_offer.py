"""A tuned model only for readers of all its collections: which model a caller gets, in the
A/B test and when they ask for one by name (the rule every surface goes through)."""

from __future__ import annotations

from pathlib import Path

import pytest

from answer.llm import Gate
from answer.offer import Restrictions
from answer.rag import Answerer
from answer.variants import Experiment, Variant
from core.errors import PermissionDenied
from ingest.passage import Passage
from tests.fakes import HashEmbedder, ScriptedLLM

HR = frozenset({"hr", "all"})  # the tuned model learnt from these
IDS = {"hr": "id-hr", "all": "id-all", "eng": "id-eng"}  # collection name → id, now


def named(existing: dict[str, str]) -> Restrictions:
    """hr-tuned learnt from the hr and all collections (their ids when it was tuned); what
    those ids are called now comes from `existing` (name → id), as from the database."""
    learnt = {"hr-tuned": frozenset(IDS[c] for c in HR)}
    return Restrictions(learnt, lambda ids: {i: n for n, i in existing.items() if i in ids})


class OneHit:
    """A search that finds one well-matching passage in whatever is searched."""

    embedder = HashEmbedder()

    def search(self, query: str, collections: list[str], k: int, fusion: object = None) -> list:
        return [Passage(document_id="d", chunk=0, collection=collections[0], filename="d.md",
                        text="Parking permits are renewed every January.", page=1, score=0.1,
                        similarity=0.9)]  # fmt: skip


def llm(name: str) -> ScriptedLLM:
    """A scripted model called name."""
    model = ScriptedLLM("Every January [1].")
    model.name = name
    return model


def answerer(default: str = "base", experiment: Experiment | None = None) -> Answerer:
    """Base and hr-tuned loaded; the tuned one needs hr and all."""
    names = {"base", "hr-tuned"} - {default}
    return Answerer(OneHit(), llm(default), Gate(), experiment=experiment,  # type: ignore[arg-type]
                    models={n: llm(n) for n in names}, needs=named(IDS))  # fmt: skip


def model_for(
    a: Answerer, readable: set[str] | None, user: str = "u", model: str | None = None
) -> str:
    """The model name the caller's plan answers with."""
    question = [{"role": "user", "content": "When are parking permits renewed?"}]
    return a.plan(question, ["all"], user=user, readable=readable, model=model).llm.name


def test_only_readers_of_every_tuned_collection_may_use_or_see_the_model() -> None:
    a = answerer()
    assert list(a.usable({"hr", "all", "eng"})) == ["base", "hr-tuned"]
    assert list(a.usable({"hr"})) == ["base"]  # one of its collections is not enough
    assert list(a.usable(None)) == ["base"]  # a caller-less tool: never the tuned one
    assert model_for(a, {"hr", "all"}, model="hr-tuned") == "hr-tuned"
    assert model_for(a, {"eng", "all"}, model="hr-tuned") == "base"  # asked for, not given
    assert model_for(a, {"eng", "all"}, model="gpt-4o") == "base"  # unknown names are ignored


def test_the_ab_test_gives_a_tuned_variant_only_to_its_readers() -> None:
    variants = [Variant("control", weight=1), Variant("tuned", weight=1, model="hr-tuned")]
    experiment = Experiment("t", variants)
    a = answerer(experiment=experiment)
    users = [f"user{i}" for i in range(60)]
    readers = {u: a.variant(u, HR) for u in users}
    others = {u: a.variant(u, {"eng", "all"}) for u in users}
    assert {v.name for v in readers.values() if v} == {"control", "tuned"}
    assert {v.name for v in others.values() if v} == {"control"}
    # readers keep the variant the hash gave them before any rule (nothing moves for them)
    assert all(readers[u] == experiment.assign(u) for u in users)
    tuned_user = next(u for u in users if readers[u] and readers[u].name == "tuned")
    assert model_for(a, set(HR), user=tuned_user) == "hr-tuned"
    assert model_for(a, {"eng", "all"}, user=tuned_user) == "base"
    # asking for another model by name takes the answer out of the test
    question = [{"role": "user", "content": "When are parking permits renewed?"}]
    plan = a.plan(question, ["all"], user=tuned_user, readable=HR, model="base")
    assert plan.llm.name == "base" and plan.variant is None


def test_a_tuned_default_falls_back_to_its_base_for_everyone_else() -> None:
    a = answerer(default="hr-tuned")
    assert model_for(a, set(HR)) == "hr-tuned"
    assert model_for(a, {"eng"}) == "base"
    alone = Answerer(OneHit(), llm("hr-tuned"), Gate(), needs=named(IDS))  # type: ignore[arg-type]
    with pytest.raises(PermissionDenied, match="tuned on collections you may not read"):
        model_for(alone, {"eng"})


def test_a_tuned_model_follows_its_collections_ids_not_their_names() -> None:
    # hr deleted, and a new hr made (another id): the tuned model is nobody's any more
    remade = {**IDS, "hr": "id-hr-2"}
    a = Answerer(OneHit(), llm("base"), Gate(), models={"hr-tuned": llm("hr-tuned")},  # type: ignore[arg-type]
                 needs=named(remade))  # fmt: skip
    assert list(a.usable({"hr", "all", "eng"})) == ["base"]
    assert model_for(a, {"hr", "all"}, model="hr-tuned") == "base"
    # hr renamed would keep it (same collection): its readers are asked by its name now
    moved = {"people": "id-hr", "all": "id-all"}
    a.needs = named(moved)
    assert list(a.usable({"people", "all"})) == ["base", "hr-tuned"]
    assert list(a.usable({"hr", "all"})) == ["base"]


def test_ab_start_refuses_a_tuned_model_registered_by_name_only(tmp_path: Path) -> None:
    from core.models import ModelSpec, register_tuned
    from tests.unit.test_cli import gptu

    register_tuned(tmp_path / "models", ModelSpec(name="old-tuned", path="/x.gguf",
                                                  tuned={"collections": ["hr"]}))  # fmt: skip
    started = gptu("ab", "start", "old-tuned", GPTU_DATA_DIR=str(tmp_path))
    assert started.returncode == 2 and "records only the names" in started.stderr
    assert not (tmp_path / "ab.toml").exists()


def test_serve_refuses_a_tuned_model_it_cannot_keep_to_its_readers(tmp_path: Path) -> None:
    from core.models import ModelSpec, register_tuned
    from tests.unit.test_cli import gptu

    learnt = {"base": "smollm2-135m", "collections": ["hr"], "collection_ids": ["id-hr"]}
    register_tuned(tmp_path / "models", ModelSpec("hr-tuned", path="/x.gguf", tuned=learnt))
    register_tuned(tmp_path / "models", ModelSpec("old-tuned", path="/y.gguf",
                                                  tuned={"collections": ["hr"]}))  # fmt: skip
    env = {"GPTU_DATA_DIR": str(tmp_path), "GPTU_PORT": "1"}  # it never gets to listen
    remote = gptu("serve", GPTU_MODEL="hr-tuned", GPTU_LLM_URL="http://127.0.0.1:9/v1", **env)
    assert remote.returncode == 1, remote.stderr
    assert "error: hr-tuned is a model `gptu tune` made" in remote.stderr
    assert "GPTU_LLM_URL" in remote.stderr and "Traceback" not in remote.stderr
    old = gptu("serve", GPTU_MODEL="old-tuned", **env)
    assert old.returncode == 1 and "old-tuned records only the names" in old.stderr
    variants = tmp_path / "ab.toml"
    variants.write_text('name = "t"\n[[variant]]\nname = "old"\nmodel = "old-tuned"\n')
    tried = gptu("serve", GPTU_VARIANTS_FILE=str(variants), **env)
    assert tried.returncode == 1 and "old-tuned records only the names" in tried.stderr


def test_ab_start_writes_the_test_the_api_reads_and_stop_ends_it(tmp_path: Path) -> None:
    from core.models import ModelSpec, register_tuned
    from core.settings import Settings
    from tests.unit.test_cli import gptu

    register_tuned(tmp_path / "models", ModelSpec(name="hr-tuned", path="/x.gguf",
                                                  tuned={"collections": ["hr"],
                                                         "collection_ids": ["id-hr"]}))  # fmt: skip
    env = {"GPTU_DATA_DIR": str(tmp_path)}
    unknown = gptu("ab", "start", "nope", **env)
    assert unknown.returncode == 2 and "unknown model 'nope'" in unknown.stderr
    started = gptu("ab", "start", "hr-tuned", "--share", "0.2", **env)
    assert started.returncode == 0, started.stderr
    assert "only to users who may read hr" in started.stdout
    path = Settings(data_dir=tmp_path).experiment_file
    assert path == tmp_path / "ab.toml"
    from answer.variants import load_experiment

    variants = load_experiment(path).variants
    assert [(v.name, v.model, v.weight) for v in variants] == [
        ("control", None, 0.8), ("hr-tuned", "hr-tuned", 0.2)]  # fmt: skip
    again = gptu("ab", "start", "hr-tuned", **env)
    assert again.returncode == 2 and "an A/B test is running" in again.stderr
    assert gptu("ab", "stop", **env).returncode == 0
    assert Settings(data_dir=tmp_path).experiment_file is None
    assert gptu("ab", "stop", **env).returncode == 2
