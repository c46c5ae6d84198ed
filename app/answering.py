"""What answering needs, built once per process (API, Slack socket mode, benches)."""

from __future__ import annotations

import sys
from collections.abc import Callable

from answer.llm import LLM, Gate, load_llm
from answer.rag import Answerer
from answer.variants import load_experiment
from app.services import Services, build_services
from core.accounts import bootstrap_admin
from core.models import ModelSpec, load_catalog
from core.settings import Settings

ModelLoader = Callable[[Settings], LLM]


def make_answerer(
    settings: Settings,
    services: Services,
    llm: LLM,
    load_model: ModelLoader = load_llm,
    ab: bool = True,
) -> Answerer:
    """Retrieval, prompt and model(s) with the configured limits and A/B variants.

    A tuned model is used only by those who may read all its collections; when it is the
    default, its base is loaded too, for everyone else.
    """
    path = settings.experiment_file if ab else None  # ab=False: tools that measure one model
    experiment = load_experiment(path) if path else None
    catalog = load_catalog(models_dir=settings.data_dir / "models")
    models = {}
    for variant in experiment.variants if experiment else []:
        if variant.model and variant.model not in models and variant.model != settings.model:
            models[variant.model] = load_model(settings.model_copy(update={"model": variant.model}))
    base = catalog.get(settings.model, ModelSpec(name="")).tuned.get("base")
    if base and base not in models and base != settings.model:
        models[base] = load_model(settings.model_copy(update={"model": base}))
    needs = {name: tuned_on(catalog[name]) for name in [llm.name, *models] if name in catalog}
    floor = settings.min_similarity
    return Answerer(
        services.search(),
        llm,
        Gate(max_waiting=settings.max_waiting),
        k=settings.chat_k,
        context_tokens=settings.context_tokens,
        answer_check=settings.answer_check,
        names_check=settings.names_check,
        source_floor=settings.source_floor,
        max_tokens=settings.max_answer_tokens,
        min_similarity=max(floor, settings.min_support) if settings.grounded_only else floor,
        queue_timeout=settings.queue_timeout,
        grounded_only=settings.grounded_only,
        experiment=experiment,
        models=models,
        needs={name: collections for name, collections in needs.items() if collections},
    )


def tuned_on(spec: ModelSpec) -> frozenset[str]:
    """The collections a tuned model learnt from (none for a packaged model)."""
    return frozenset(spec.tuned.get("collections", []))


def api_services(settings: Settings) -> Services:
    """The API's services: one embedder thread is plenty for questions, and leaves room."""
    return build_services(settings, threads=1)


def announce_admin(services: Services, token: str) -> None:
    """Create the admin on first start; print a generated key once (only its hash is kept)."""
    with services.db.session() as session:
        key = bootstrap_admin(session, token)
    if key is not None:
        line = "=" * 72
        print(
            f"{line}\ngptu: created the admin user 'admin'. Its API key, shown only now:\n\n"
            f"    {key}\n\nSign in to the web chat with it; `gptu users key admin` makes a new "
            f"one.\n{line}",
            file=sys.stderr,
            flush=True,
        )
