"""Run the training runs and evaluations an experiment profile asks for (resumably).

The experiment directory's layout is ``likra.layout.ExperimentLayout``. Before any work, the
planned runs are recorded in the experiment's manifest, so the report can be rebuilt from the
directory alone. Every run and evaluation skips what is already complete, so re-running resumes.
"""

from __future__ import annotations

import gc
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from likra import job_progress
from likra.data.items import Item
from likra.data.pairs import NEEDS_BASE_SCORES
from likra.data.selection import eval_items, load_items
from likra.data.transforms import unconditional
from likra.errors import DamagedFileError
from likra.experiments.open_ended import run_open_ended
from likra.experiments.planner import WorkPlan, unscored_runs
from likra.experiments.profiles import EvalSet, Profile
from likra.experiments.specs import RunSpec, run_specs, train_settings, training_questions
from likra.io import atomic_write_json, atomic_write_jsonl, read_json
from likra.layout import ExperimentLayout, eval_folder_name, task_label
from likra.lm.allocator import release_freed_memory
from likra.lm.packing import BATCH_TOKENS
from likra.methods import method_heads
from likra.model.resolve import resolve_model_path
from likra.rundir import record_runs
from likra.score.evaluate import LazyModel, cached_table, choose_checkpoints, evaluate_run
from likra.score.inputs import items_digest, model_digest
from likra.score.scorer import score_items
from likra.training.run import train


def check_inputs(profile: Profile) -> None:
    """Load every task and split the profile names, so that a typo fails before the experiment
    directory is written to (a profile.json left behind would refuse the corrected command)."""
    for study in profile.studies:
        load_items(study.train_task, study.train_split)
        for eval_set in study.eval_sets:
            eval_items(eval_set.task, eval_set.split, eval_set.limit, profile.shots)


def planned_runs(profile: Profile) -> list[RunSpec]:
    """The profile's runs (the pool sizes come from the data)."""
    pool_sizes = {s.train_task: len(load_items(s.train_task, s.train_split)) for s in profile.studies}
    return list(run_specs(profile, pool_sizes))


def plan_runs(exp_dir: Path, profile: Profile) -> list[RunSpec]:
    """The profile's runs, recorded in the manifest."""
    specs = planned_runs(profile)
    layout = ExperimentLayout(exp_dir)
    record_runs(exp_dir, [spec.record(layout, profile.shots) for spec in specs])
    return specs


def run_experiment(
    exp_dir: Path,
    profile: Profile,
    base: Any,
    scoring: LazyModel | None = None,
    progress: bool = True,
    log=print,
    only_seeds: Sequence[int] | None = None,
) -> list[RunSpec]:
    """Train with ``base`` and score with ``scoring`` (default: ``base``) everything ``profile``
    asks for, or with ``only_seeds`` the runs of those seeds alone (a part of the experiment);
    returns every planned run's spec. Training and scoring may run in different precisions (a
    likelihood ratio needs fp32 scores; likra.model.precision).

    One overall bar (and ``EXP/progress.jsonl``) tracks the work left, with an ETA."""
    scoring = scoring if scoring is not None else LazyModel(profile.model, loaded=base)
    layout = ExperimentLayout(exp_dir)
    specs = plan_runs(exp_dir, profile)
    todo = [spec for spec in specs if only_seeds is None or spec.seed in only_seeds]
    plan = WorkPlan(layout, profile, base)
    with job_progress.job(plan.left(todo), enabled=progress, log=layout.progress_log):
        job_progress.set_stage("answer-prior scores")
        for study in profile.studies:
            for eval_set in study.eval_sets:
                unconditional_scores(layout, profile, eval_set, scoring)
        for index, spec in enumerate(todo, 1):
            run_name = f"{spec.study.train_task}/{spec.name}"
            log(f"[{index}/{len(todo)}] {run_name}: train up to N={spec.max_questions}")
            job_progress.set_stage(f"{run_name}: train")
            if spec.strategy in NEEDS_BASE_SCORES:
                # Planned with a stand-in for the negatives that the ranking scores now choose.
                kind, guessed = plan.training_left(spec)
                training_base_scores(layout, spec, scoring)
                job_progress.replan(kind, plan.training_left(spec)[1] - guessed)
            train_run(layout, profile, spec, base, scoring, progress)
            job_progress.set_stage(f"{run_name}: score")
            evaluate_spec(layout, profile, spec, scoring, progress)
            release_run_memory()
        job_progress.set_stage("open-ended" if profile.open_ended is not None else None)
        if profile.open_ended is not None:
            # Never a part: its knobs are chosen over every run (``check_only_seeds`` refuses it).
            run_open_ended(layout, profile, [s.record(layout, profile.shots) for s in specs], scoring, log)
    return specs


def release_run_memory() -> None:
    """Collect a finished run's objects and hand the memory they held back to the OS, so resident
    memory does not creep up run after run."""
    gc.collect()
    release_freed_memory()


def train_run(
    layout: ExperimentLayout, profile: Profile, spec: RunSpec, base: Any, scoring: LazyModel, progress: bool
) -> None:
    base_scores = training_base_scores(layout, spec, scoring) if spec.strategy in NEEDS_BASE_SCORES else None
    if scoring.release():  # a scoring copy in another precision waits on disk while training runs
        release_run_memory()
    train(
        layout.root / layout.run_path(spec.study.train_task, spec.name),
        model=profile.model,
        task=spec.study.train_task,
        split=spec.study.train_split,
        strategy=spec.strategy,
        max_questions=spec.max_questions,
        settings=train_settings(profile, spec),
        base_scores=base_scores,
        progress=progress,
        loaded=base,
        question_ablated=spec.ablated,
        method=spec.method,
    )


def evaluate_spec(
    layout: ExperimentLayout, profile: Profile, spec: RunSpec, scoring: LazyModel, progress: bool
) -> None:
    """Score a run's checkpoints on its eval sets, against the experiment's shared base scores."""
    run = layout.run(layout.run_path(spec.study.train_task, spec.name))
    for eval_set in spec.eval_sets:
        folder = eval_folder_name(eval_set.task, eval_set.split, profile.shots, eval_set.limit, spec.ablated)
        items = eval_items(eval_set.task, eval_set.split, eval_set.limit, profile.shots, ablate=spec.ablated)
        about = {"task": eval_set.task, "split": eval_set.split, "model": profile.model, "shots": profile.shots}
        evaluate_run(
            run.root,
            items,
            folder,
            choose_checkpoints(run, spec.checkpoints(profile), method_heads(spec.method)),
            layout.base_scores(folder),
            about,
            scoring,
            progress=progress,
            shared_heads=layout.shared_head_scores(folder),
        )


def training_base_scores(layout: ExperimentLayout, spec: RunSpec, scoring: LazyModel) -> Path:
    """Base scores of the questions a run trains on (what hardest/easiest rank by)."""
    path = layout.training_base_scores(spec.study.train_task, spec.seed, spec.max_questions)
    base_table(path, training_questions(spec), "the training questions' base scores", scoring)
    return path


def unconditional_scores(layout: ExperimentLayout, profile: Profile, eval_set: EvalSet, scoring: LazyModel) -> Path:
    """log P_base(answer | "Answer:") for every choice: the calibration control's denominator."""
    path = layout.unconditional_scores(eval_folder_name(eval_set.task, eval_set.split, profile.shots, eval_set.limit))
    items = [unconditional(i) for i in eval_items(eval_set.task, eval_set.split, eval_set.limit, 0)]
    base_table(path, items, "the unconditional scores", scoring)
    return path


def base_table(path: Path, items: Sequence[Item], what: str, scoring: LazyModel) -> None:
    """The base model's scores of ``items`` at ``path``, computed unless the table is whole, for
    these items, and its record (``NAME.inputs.json`` beside it) names the same inputs: the items'
    content, the model's weights, the precision, the device (``likra.score.inputs``). Checking ids
    alone reused the scores of an edited choice, or of other weights; a table without a record
    (an older likra) is scored again."""
    record = path.with_name(path.name.removesuffix(".jsonl") + ".inputs.json")
    inputs = scoring.inputs(items, BATCH_TOKENS)
    try:
        recorded = read_json(record) if record.exists() else None
    except DamagedFileError:
        recorded = None  # a cache record: the table is scored again
    if recorded == inputs and cached_table(path, items, what) is not None:
        return
    base = scoring.get()
    rows, _ = score_items(base.model, base.tokenizer, items, ("base",), max_length=base.max_length, progress=False)
    # Rows first, their record second: a kill in between leaves rows that will not be trusted.
    atomic_write_jsonl(path, rows)
    atomic_write_json(record, inputs)


def experiment_inputs(profile: Profile) -> dict[str, str]:
    """What an experiment's tables are made from, as digests: every training pool and evaluation
    set (their content, not their path) and the model's weights. A complete experiment only
    rebuilds its report while these are as it recorded them (``likra.api.reproduce``)."""
    found = {"model": model_digest(resolve_model_path(profile.model))}
    for study in profile.studies:
        pool = load_items(study.train_task, study.train_split)
        found[f"train {study.train_task}:{study.train_split}"] = items_digest(pool)
        for eval_set in study.eval_sets:
            items = eval_items(eval_set.task, eval_set.split, eval_set.limit, profile.shots)
            found[f"eval {eval_set.key}"] = items_digest(items)
    return found


def runs_without_scores(exp_dir: Path, profile: Profile) -> list[str]:
    """The planned runs (``task/name``) that lack a score table: a complete experiment whose run
    folders were deleted or never unpacked is not complete any more."""
    left = unscored_runs(ExperimentLayout(exp_dir), profile, planned_runs(profile))
    return [f"{task_label(spec.study.train_task)}/{spec.name}" for spec in left]


def changed_inputs(recorded: dict | None, now: dict[str, str]) -> str:
    """What differs between a complete experiment's recorded inputs and today's, in words."""
    if not recorded:
        return "its inputs were not recorded (an older likra)"
    changed = [key for key in sorted(set(recorded) | set(now)) if recorded.get(key) != now.get(key)]
    return "its inputs changed since it completed (" + ", ".join(changed) + ")"
