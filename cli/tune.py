"""`gptu tune`: a collection becomes a tuned model, measured against its base and registered.

A run lives in GPTU_DATA_DIR/tune/<run>: its settings (run.json), the teacher's journal
(synth.jsonl), the examples (train.jsonl, heldout.jsonl), the trainer's folder (train/) and
the scores. Each phase picks up what an earlier, interrupted run of the same folder left
(`--resume RUN`). The model is registered only at the very end, once its file is complete,
checked by sha256 and loaded: a run that breaks anywhere registers nothing.

A run learns from one collection, named when it starts and known by its id from then on: the
id is what the tuned model records (who may use it depends on it), and a run whose collection
was deleted (or deleted and made again under its name) stops, registering nothing.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import math
import os
import shutil
import time
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from cli.importer import sha256_of
from cli.trainer import Event, package, train
from cli.tunedata import (
    Example,
    Synthesis,
    collection_chunks,
    default_answers,
    pick,
    reanswer,
    require_enough,
    split,
    synthesise,
    teacher_prompt,
    write_eval,
    write_training,
)
from cli.tunemeasure import read_questions
from cli.tunerated import rated_examples, reviewed_examples
from core.models import ModelSpec, load_catalog, model_file, register_tuned, resolve
from core.settings import Settings
from tune.config import RunConfig

# Teachers by preference when GPTU_LLM_URL is not set: Qwen2.5-Coder-1.5B when installed
# (opt-in, `make model-qwen-1.5b`), else the 0.5B every install has. On H2O.ai's handbook
# questions (2 cores, docs/tuning.md) the 1.5B's examples tuned SmolLM2 to answer_correct 0.270
# against 0.191, at 61 minutes a tune against 43 (0.097 examples/s against 0.15), and its own
# answers in the answerer's prompts (its default --answers) to 0.360 against the base's 0.299;
# `--teacher` picks any catalog model.
REVIEWED = "reviewed.jsonl"  # the run's copy of --reviewed
OTHERS = "questions.jsonl"  # the run's copy of --questions
TEACHERS = ("qwen2.5-coder-1.5b", "qwen2.5-coder-0.5b", "smollm2-135m")


@dataclass
class TuneRun:
    """What a run was asked to do (kept in run.json, so --resume does the same)."""

    collection: str
    base: str = "smollm2-135m"
    name: str = ""  # the tuned model's catalog name; default <collection>-<base>
    teacher: str = ""  # a catalog name; "" = GPTU_LLM_URL, else the best installed (kept)
    examples: int = 300  # chunks the teacher is asked about, at most
    steps: int = 0  # 0 = two passes over the training examples
    batch: int = 4
    lr: float = 5e-4
    encoding: str = "Q4_0"  # docs/tuning.md: Q4_1 (the base's) rounds the tuning away
    threads: int = 0  # 0 = every core but one (see side_threads)
    measure: bool = True
    reviewed: str = ""  # a reviewed `gptu export eval` file (copied into the run as reviewed.jsonl)
    questions: str = ""  # questions written by others about the collection (copied as OTHERS)
    answers: str = ""  # how the examples' answers are said (cli.tunedata.ANSWERS; "": its default)
    collection_id: str = ""  # the collection's id, found when the run starts (never by name after)

    @property
    def model_name(self) -> str:
        """The name GPTU_MODEL will use."""
        return self.name or f"{self.collection}-{self.base}"


def side_threads(settings: Settings, threads: int = 0) -> int:
    """Threads for the teacher, the trainer and the measuring: every core but one, which the
    running API keeps for questions (and two threads that wait on each other on two busy
    cores ran training steps 4x slower than one; docs/tuning.md)."""
    return threads or settings.llm_threads or max(1, (os.cpu_count() or 1) - 1)


def new_run(settings: Settings, run: TuneRun) -> Path:
    """A fresh run folder with the run's settings (the collection's id among them)."""
    run.collection_id = collection_id(settings, run.collection)
    if not run.collection_id:
        raise FileNotFoundError(f"there is no collection {run.collection!r}")
    # read now: a bad line must not wait for the end of the run
    if run.questions and not read_questions(Path(run.questions)):
        raise ValueError(f"{run.questions} holds no questions")
    # resolved now: --resume asks the same teacher, whatever has been installed since
    run.teacher = teacher_name(settings, run.teacher)
    run.answers = run.answers or default_answers(run.teacher)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    name = f"{run.collection}-{run.base}-{stamp}"
    folder = settings.data_dir / "tune" / name
    for n in itertools.count(2):  # two runs started in the same second get their own folders
        try:
            folder.mkdir(parents=True)
            break
        except FileExistsError:
            folder = folder.with_name(f"{name}-{n}")
    (folder / "run.json").write_text(json.dumps(asdict(run), indent=2), encoding="utf-8")
    if run.reviewed:  # the run keeps the file as it was, for --resume
        shutil.copyfile(run.reviewed, folder / REVIEWED)
    if run.questions:
        shutil.copyfile(run.questions, folder / OTHERS)
    return folder


def open_run(settings: Settings, name: str) -> tuple[Path, TuneRun]:
    """An earlier run's folder and settings, to continue it."""
    folder = settings.data_dir / "tune" / name
    path = folder / "run.json"
    if not path.is_file():
        raise FileNotFoundError(f"no tuning run {name!r} in {folder.parent}")
    known = {f.name for f in fields(TuneRun)}
    saved = json.loads(path.read_text(encoding="utf-8"))
    return folder, TuneRun(**{k: v for k, v in saved.items() if k in known})


def collection_id(settings: Settings, name: str) -> str:
    """The id of the collection called name now ("" when there is none)."""
    from sqlalchemy import select

    from core.db import Collection, Database

    db = Database(settings.sqlalchemy_url)
    try:
        with db.session() as session:
            found = session.scalar(select(Collection.id).where(Collection.name == name))
    finally:
        db.engine.dispose()
    return found or ""


def require_same_collection(settings: Settings, run: TuneRun) -> None:
    """ValueError unless the run's collection is still the one it started on."""
    if not run.collection_id:
        raise ValueError(
            f"this run was started by an older gptu, which did not record which collection "
            f"{run.collection!r} it learns from; start a new run: gptu tune --collection "
            f"{run.collection}"
        )
    if collection_id(settings, run.collection) != run.collection_id:
        raise ValueError(
            f"collection {run.collection!r} was deleted since this run started (a collection "
            f"of that name now is another one): nothing is registered; start a new run"
        )


def teacher_name(settings: Settings, wanted: str) -> str:
    """The catalog model that writes the questions ("" when GPTU_LLM_URL is the teacher)."""
    if wanted or settings.llm_url:
        return wanted
    catalog = load_catalog()
    for name in TEACHERS:
        try:
            model_file(catalog[name], settings.model_cache)
            return name
        except Exception:  # not installed: the next one
            continue
    raise FileNotFoundError("no teacher model is installed; run `make install`")


def prepare_data(
    settings: Settings, run: TuneRun, folder: Path, bar: Progress
) -> tuple[int, int, dict[str, Any]]:
    """train.jsonl and heldout.jsonl of the run (made once); (train, held out, data report)."""
    report_path = folder / "data.json"
    if report_path.is_file() and (folder / "train.jsonl").is_file():
        report = json.loads(report_path.read_text(encoding="utf-8"))
        return report["train"], report["held_out"], report
    from answer.llm import load_llm
    from app.answering import make_answerer
    from app.services import build_services

    services = build_services(settings)
    student_settings = settings.model_copy(update={"model": run.base, "llm_url": ""})
    answerer = make_answerer(student_settings, services, load_llm(student_settings), ab=False)
    teacher = teacher_name(settings, run.teacher)
    picked = {"model": teacher} if teacher else {}
    teacher_llm = load_llm(
        settings.model_copy(update={**picked, "llm_threads": side_threads(settings)})
    )
    chunks = pick(collection_chunks(services, run.collection), run.examples)
    task = bar.add_task("questions", total=len(chunks))

    def progress(stats: Synthesis) -> None:
        bar.update(task, completed=stats.tried, description=f"questions ({stats.kept} kept)")

    journal, prompt = folder / "synth.jsonl", teacher_prompt(teacher)
    examples, stats = synthesise(answerer, teacher_llm, chunks, run.collection, journal,
                                 progress, prompt, run.answers == "answered")  # fmt: skip
    examples = reanswer(examples, stats, run.answers)
    examples += list(rated_examples(answerer, services, run.collection_id))
    if (folder / REVIEWED).is_file():
        examples += reviewed_examples(answerer, services, run.collection_id, folder / REVIEWED)
    train_set, held = split(examples)
    require_enough(train_set, held, run.collection)
    write_training(folder / "train.jsonl", train_set)
    write_eval(folder / "heldout.jsonl", held)
    report = data_report(stats, examples, train_set, held, teacher or settings.llm_url, folder)
    report["answers"] = run.answers
    report_path.write_text(json.dumps(report, indent=2), encoding="utf-8")
    return len(train_set), len(held), report


def data_report(
    stats: Synthesis, examples: list[Example], train_set: list[Example], held: list[Example],
    teacher: str, folder: Path,
) -> dict[str, Any]:  # fmt: skip
    """What the data phase made, and how fast."""
    digest = hashlib.sha256((folder / "train.jsonl").read_bytes()).hexdigest()
    return {
        "teacher": teacher, "chunks_tried": stats.tried, "synthetic": stats.kept,
        "rated": sum(e.origin == "rated" for e in examples),
        "reviewed": sum(e.origin == "reviewed" for e in examples), "rejected": stats.rejected,
        "examples_per_s": round(stats.per_second, 3), "seconds": round(stats.seconds, 1),
        "train": len(train_set), "held_out": len(held),
        "documents": len({e.document for e in examples}), "train_sha256": digest,
    }  # fmt: skip


def run_training(
    settings: Settings, run: TuneRun, folder: Path, count: int, bar: Progress
) -> RunConfig:
    """LoRA in the tuning venv, resumed from its checkpoint; the trainer's config."""
    base = model_file(resolve(run.base, settings.model_cache), settings.model_cache)
    steps = run.steps or math.ceil(2 * count / run.batch)
    config = RunConfig(
        base_gguf=str(base), examples=str(folder / "train.jsonl"),
        work_dir=str(folder / "train"), cache_dir=str(settings.model_cache / "tune"),
        steps=steps, batch=run.batch, lr=run.lr, threads=side_threads(settings, run.threads),
        name=run.model_name,
        save_every=max(1, min(25, steps // 4)),  # a checkpoint at least every quarter
        meta={"base": run.base, "collection": run.collection, "collection_id": run.collection_id,
              "examples": count},
    )  # fmt: skip
    task = bar.add_task("training", total=steps)

    def follow(event: Event) -> None:
        if event["event"] == "step":
            bar.update(task, completed=event["step"],
                       description=f"training (loss {event['loss']:.3f})")  # fmt: skip
        elif event["event"] == "data" and event["start"]:
            bar.update(task, completed=event["start"])
            bar.console.print(f"resuming training at step {event['start']} of {steps}")

    train(config, follow, nice=settings.worker_nice)
    return config


def tuned_spec(
    settings: Settings, run: TuneRun, path: Path, data: dict[str, Any], steps: int,
    scores: dict[str, Any], others: dict[str, Any],
) -> ModelSpec:  # fmt: skip
    """The catalog entry of the tuned model (its scores on the held-out teacher questions, and
    on the questions written by others when it was given some)."""
    base = resolve(run.base, settings.model_cache)
    return ModelSpec(
        name=run.model_name, path=str(path), sha256=sha256_of(path),
        description=f"{run.base} tuned on {run.collection} ({data['train']} examples)",
        chat_format=base.chat_format, context=base.context, context_tokens=base.context_tokens,
        tuned={"base": run.base, "collections": [run.collection],
               "collection_ids": [run.collection_id], "steps": steps,
               "encoding": run.encoding, "data": data, "scores": scores,
               "scores_others": others,
               "created": time.strftime("%Y-%m-%dT%H:%M:%S%z")},
    )  # fmt: skip


def measure_both(
    settings: Settings, run: TuneRun, folder: Path, tuned: Path, held: int
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Base and tuned model, one loaded after the other, on the held-out teacher questions
    (scores by model) and on the questions written by others (`--questions`: scores by model,
    and tuned minus base question by question, with its noise); {} for a set not asked."""
    from answer.llm import LlamaCppLLM
    from app.answering import make_answerer
    from app.services import build_services
    from cli.tunemeasure import answer_each, paired, read_questions, scores_of

    sets = {
        "held_out": read_questions(folder / "heldout.jsonl") if held else [],
        "others": read_questions(folder / OTHERS) if (folder / OTHERS).is_file() else [],
    }
    services = build_services(settings)
    spec = resolve(run.base, settings.model_cache)
    threads = side_threads(settings)
    answered: dict[str, dict[str, list[Any]]] = {key: {} for key in sets}
    for label, path in (("base", model_file(spec, settings.model_cache)), ("tuned", tuned)):
        llm = LlamaCppLLM(str(path), label, min(settings.context_size, spec.context), threads,
                          settings.n_gpu_layers, spec.context_tokens)  # fmt: skip
        plain = settings.model_copy(update={"model": run.base, "llm_url": ""})
        answerer = make_answerer(plain, services, llm, ab=False)
        for key, questions in sets.items():
            if questions:
                answered[key][label] = answer_each(answerer, questions, run.collection)
        llm.model.close()  # its memory back before the next model loads
    scores: dict[str, dict[str, Any]] = {}
    for key, questions in sets.items():
        if questions:
            by_model = answered[key]
            scores[key] = {label: scores_of(questions, done) for label, done in by_model.items()}
    others = scores.get("others", {})
    if others:
        others["difference"] = paired(sets["others"], answered["others"]["base"],
                                      answered["others"]["tuned"])  # fmt: skip
        others["file"] = Path(run.questions).name
    return scores.get("held_out", {}), others


def run_tune(settings: Settings, run: TuneRun | None, resume: str | None) -> int:
    """The whole run with progress bars and a summary; the exit status."""
    from cli.trainer import TuneFailed
    from cli.tunedata import TooFewExamples
    from core.errors import GptuError
    from tune.faults import reason

    folder = None
    try:
        folder, run = open_run(settings, resume) if resume else (None, run)
        assert run is not None
        folder = folder or new_run(settings, run)
        print(f"tuning run {folder.name} (continue it with --resume {folder.name})", flush=True)
        require_same_collection(settings, run)
        with progress_bars() as bar:
            count, held, data = prepare_data(settings, run, folder, bar)
            config = run_training(settings, run, folder, count, bar)
        target = settings.data_dir / "models" / f"{folder.name}.{run.encoding}.gguf"
        package(config.merged, target, run.encoding)
        asked = run.measure and (held or run.questions)
        scores, others = measure_both(settings, run, folder, target, held) if asked else ({}, {})
        spec = tuned_spec(settings, run, target, data, config.steps, scores, others)
        require_same_collection(settings, run)  # what it learnt from is still there to read
        register_tuned(settings.data_dir / "models", spec)
    except (TooFewExamples, TuneFailed, GptuError, FileNotFoundError, ValueError) as exc:
        print(f"error: {getattr(exc, 'message', None) or exc}", flush=True)
        return 1
    except (OSError, MemoryError) as exc:  # disk full, out of memory: nothing was registered
        print(f"error: {reason(exc) or exc}", flush=True)
        return 1
    except KeyboardInterrupt:
        where = f"; continue with --resume {folder.name}" if folder else ""
        print(f"interrupted{where}", flush=True)
        return 130
    config.merged.unlink(missing_ok=True)  # 540 MB for SmolLM2; the GGUF above is the model
    summary(spec, data, scores, others)
    return 0


def progress_bars() -> Progress:
    """Bars for the questions and the training steps."""
    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                    TimeRemainingColumn())  # fmt: skip


def summary(
    spec: ModelSpec, data: dict[str, Any], scores: dict[str, Any], others: dict[str, Any]
) -> None:
    """What was made, and base against tuned on the held-out teacher questions and on the
    questions written by others."""
    print(f"\n{spec.name}: {spec.path} (sha256 {spec.sha256})")
    print(f"data: {data['synthetic']} synthetic + {data['rated']} rated examples from "
          f"{data['documents']} documents, {data['train']} to train, {data['held_out']} held "
          f"out; {data['examples_per_s']} examples/s from {data['teacher']}")  # fmt: skip
    if scores:
        print(f"\nheld-out teacher questions ({scores['base']['questions']}):  base  →  tuned")
        for key in scores["base"]:
            if key != "questions":
                print(f"  {key:20} {scores['base'][key]}  →  {scores['tuned'][key]}")
    if others:
        print(f"\nquestions written by others ({others['file']}, {others['base']['questions']}):"
              "  base  →  tuned   (difference ± noise: twice its standard error)")  # fmt: skip
        for key in others["base"]:
            if key == "questions":
                continue
            line = f"  {key:20} {others['base'][key]}  →  {others['tuned'][key]}"
            diff = others["difference"].get(key)
            if diff and diff["noise"] is not None:
                beyond = "beyond noise" if abs(diff["delta"]) > diff["noise"] else "within noise"
                line += f"   {diff['delta']:+.3f} ± {diff['noise']:.3f} ({beyond})"
            print(line)
    print(f"\nuse it: GPTU_MODEL={spec.name}")
