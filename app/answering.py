"""What answering needs, built once per process (API, Slack socket mode, benches)."""

from __future__ import annotations

import sys
from collections.abc import Callable

from sqlalchemy import select

from answer.llm import LLM, Gate, load_llm
from answer.offer import Names, Restrictions
from answer.rag import Answerer
from answer.variants import load_experiment
from app.services import Services, build_services
from core.accounts import ADMIN_NAME, bootstrap_admin
from core.db import Collection, Database, User
from core.errors import ModelError
from core.models import ModelSpec, UnrecordedTuning, identify, learnt_from, load_catalog
from core.priority import ChatMark
from core.settings import Settings
from core.signin import create_link

ModelLoader = Callable[[Settings], LLM]


def make_answerer(
    settings: Settings,
    services: Services,
    llm: LLM,
    load_model: ModelLoader = load_llm,
    ab: bool = True,
) -> Answerer:
    """Retrieval, prompt and model(s) with the configured limits and A/B variants.

    A tuned model is used only by those who may read all the collections it learnt from (by
    id: see answer/offer.py); when it is the default, its base is loaded too, for everyone
    else. ModelError when that cannot be kept (see served_default, learnt_by).
    """
    path = settings.experiment_file if ab else None  # ab=False: tools that measure one model
    experiment = load_experiment(path) if path else None
    catalog = load_catalog(models_dir=settings.data_dir / "models")
    default = served_default(settings, catalog)
    models = {}
    for variant in experiment.variants if experiment else []:
        if variant.model and variant.model not in models and variant.model != settings.model:
            models[variant.model] = load_model(settings.model_copy(update={"model": variant.model}))
    base = default.tuned.get("base") if default else None
    if base and base not in models and base != settings.model:
        models[base] = load_model(settings.model_copy(update={"model": base}))
    # the default answers as llm.name: what GPTU_MODEL stands for binds it, and so does what
    # its own name stands for (a tool that loads a tuned model under its base's settings)
    learnt = {name: learnt_by(identify(name, catalog)) for name in models}
    learnt[llm.name] = learnt_by(default) | learnt_by(identify(llm.name, catalog))
    floor = settings.min_similarity
    return Answerer(
        services.search(),
        llm,
        Gate(max_waiting=settings.max_waiting, busy=ChatMark(settings.redis_url).busy),
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
        needs=Restrictions(
            {name: ids for name, ids in learnt.items() if ids}, collection_names(services.db)
        ),
    )


def check_models(settings: Settings) -> None:
    """ModelError, before anything loads, for what make_answerer would refuse: a tuned default
    behind GPTU_LLM_URL, a tuned model registered without its collections' ids."""
    catalog = load_catalog(models_dir=settings.data_dir / "models")
    learnt_by(served_default(settings, catalog))
    path = settings.experiment_file
    for variant in load_experiment(path).variants if path else []:
        learnt_by(identify(variant.model, catalog) if variant.model else None)


def served_default(settings: Settings, catalog: dict[str, ModelSpec]) -> ModelSpec | None:
    """The catalog entry of the default model (GPTU_MODEL: a name, or a file, a tuned model's
    known by its sha256); ModelError for a tuned one behind GPTU_LLM_URL. gptu cannot see
    which weights a remote server runs: the base it would serve everyone else could be the
    tuned model itself (llama.cpp's server answers any model name with its one model)."""
    default = identify(settings.model, catalog)
    if not settings.llm_url:
        return default
    for named in (default, identify(settings.llm_model, catalog) if settings.llm_model else None):
        if named is not None and named.tuned:
            raise ModelError(
                f"{named.name} is a model `gptu tune` made, for those who may read "
                f"{', '.join(named.tuned.get('collections') or ['its collections'])} only, "
                f"but GPTU_LLM_URL sends the questions to a server whose model gptu cannot "
                f"verify (nor keep from everyone else). Serve it in-process (GPTU_MODEL="
                f"{named.name}, no GPTU_LLM_URL), or keep a packaged model the default"
            )
    return default


def learnt_by(spec: ModelSpec | None) -> frozenset[str]:
    """The ids of the collections a model learnt from (none for a model not tuned); ModelError
    for a tuned model registered without them (core/models.py learnt_from)."""
    try:
        return learnt_from(spec) if spec else frozenset()
    except UnrecordedTuning as exc:
        raise ModelError(str(exc)) from exc


def collection_names(db: Database) -> Names:
    """What the collections of these ids are called now (those that still exist)."""

    def names(ids: frozenset[str]) -> dict[str, str]:
        with db.session() as session:
            found = session.execute(
                select(Collection.id, Collection.name).where(Collection.id.in_(ids))
            )
            return dict(found.tuples().all())

    return names


def api_services(settings: Settings) -> Services:
    """The API's services: one embedder thread is plenty for questions, and leaves room."""
    return build_services(settings, threads=1, wait=settings.start_timeout)


def announce_admin(services: Services, token: str) -> None:
    """Create the admin on first start; print a one-time link to choose its password (for the
    web pages) and a generated key (for programs) once: only their hashes are kept."""
    with services.db.session() as session:
        key = bootstrap_admin(session, token)
        if key is None:  # not the first start (or GPTU_ADMIN_TOKEN: `gptu users invite admin`)
            return
        admin = session.scalar(select(User).where(User.name == ADMIN_NAME))
        assert admin is not None
        link, _ = create_link(session, admin, "gptu", services.settings.sign_in_link_hours)
    hours = services.settings.sign_in_link_hours
    line = "=" * 72
    print(
        f"{line}\ngptu: created the admin user 'admin'. Open this link to choose its password "
        f"(it works once, for {hours:g} hours; `gptu users invite admin` makes a new one):\n\n"
        f"    {services.settings.web_url}/welcome#{link}\n\n"
        f"For programs (gptu ingest, gptu ask, the Python client), its API key, shown only now:"
        f"\n\n    {key}\n\n`gptu users key admin` makes a new one.\n{line}",
        file=sys.stderr,
        flush=True,
    )
