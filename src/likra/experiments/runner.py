"""Run the training runs and evaluations an experiment profile asks for (resumably).

The experiment directory's layout is ``likra.layout.ExperimentLayout``. Before any work, the
planned runs are recorded in the experiment's manifest, so the report can be rebuilt from the
directory alone. Every run and evaluation skips what is already complete, so re-running resumes.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from likra import job_progress
from likra.data.selection import eval_items, load_items, training_items
from likra.data.transforms import unconditional
from likra.experiments.profiles import EvalSet, Profile, Study, method_lr
from likra.io import atomic_write_jsonl, read_json
from likra.layout import (
    METRICS,
    RESUME_STATE,
    UNTRAINED,
    ExperimentLayout,
    RunLayout,
    checkpoint_name,
    curve_group,
    eval_folder_name,
    run_name,
)
from likra.lm.allocator import release_freed_memory
from likra.model.heads import DEFAULT_METHOD, method_heads
from likra.rundir import read_manifest, record_runs
from likra.score.evaluate import LazyModel, choose_checkpoints, evaluate_run
from likra.score.scorer import score_items
from likra.train.loop import TrainSettings
from likra.train.run import train


@dataclass(frozen=True)
class RunSpec:
    """One training run of an experiment."""

    study: Study
    strategy: str
    seed: int
    max_questions: int | None
    ablated: bool = False
    role: str = "curve"  # curve | subset | negatives | ablation | method
    method: str = DEFAULT_METHOD

    @property
    def name(self) -> str:
        subset = self.max_questions if self.role == "subset" else None
        return run_name(self.strategy, self.seed, self.ablated, subset, self.method)

    @property
    def eval_sets(self) -> tuple[EvalSet, ...]:
        """Negative types and the ablation control are scored on the main evaluation set only."""
        return self.study.eval_sets if self.role in ("curve", "subset") else self.study.eval_sets[:1]

    def checkpoints(self, profile: Profile) -> str | list[str]:
        """Which checkpoints to score: all; the last (subset runs); or the profile's few N."""
        if self.role == "subset":
            return "final"
        only = {
            "curve": profile.curve_eval_n,
            "negatives": profile.negatives_eval_n,
            "ablation": profile.ablation_eval_n,
            "method": profile.methods_eval_n,
        }.get(self.role)
        if only:
            return [UNTRAINED] + [checkpoint_name(n) for n in only if n <= (self.max_questions or 0)]
        return "all"

    def record(self, layout: ExperimentLayout, shots: int) -> dict:
        """What the manifest keeps of this run: enough to find and group its score tables."""
        return {
            "name": self.name,
            "path": str(layout.run_path(self.study.train_task, self.name)),
            "train_task": self.study.train_task,
            "train_split": self.study.train_split,
            "strategy": self.strategy,
            "seed": self.seed,
            "max_questions": self.max_questions,
            "ablated": self.ablated,
            "role": self.role,
            "method": self.method,
            "group": curve_group(self.strategy, self.ablated, self.method),
            "eval_sets": [
                {
                    "task": e.task,
                    "split": e.split,
                    "limit": e.limit,
                    "key": e.key,
                    "folder": eval_folder_name(e.task, e.split, shots, e.limit, self.ablated),
                    "base_folder": eval_folder_name(e.task, e.split, shots, e.limit),
                }
                for e in self.eval_sets
            ],
        }


def curve_sizes(max_questions: int, batch_size: int) -> list[int]:
    """N = batch, 2*batch, 4*batch, ... up to max_questions (and max_questions itself)."""
    sizes, n = [], batch_size
    while n < max_questions:
        sizes.append(n)
        n *= 2
    return sizes + [max_questions]


def run_specs(profile: Profile, pool_sizes: dict[str, int]) -> Iterator[RunSpec]:
    """Every run the profile needs, main curves first (they decide finding 1)."""
    for study in profile.studies:
        pool = pool_sizes[study.train_task]
        max_q = min(study.max_questions or pool, pool)
        for seed in profile.seeds:
            if profile.points == "subsets":
                for n in curve_sizes(max_q, profile.batch_size):
                    yield RunSpec(study, "first", seed, n, role="subset")
            else:
                yield RunSpec(study, "first", seed, max_q)
        neg_q = min(profile.negatives_max_questions or pool, max_q)
        for strategy in profile.negative_strategies:
            for seed in profile.negatives_seeds:
                yield RunSpec(study, strategy, seed, neg_q, role="negatives")
        if profile.ablation:
            ablation_q = min(profile.ablation_max_questions or max_q, max_q)
            for seed in profile.seeds:
                yield RunSpec(study, "first", seed, ablation_q, ablated=True, role="ablation")
        methods_q = min(profile.methods_max_questions or max_q, max_q)
        for method in profile.methods:
            for seed in profile.seeds:
                yield RunSpec(study, "first", seed, methods_q, role="method", method=method)


def plan_runs(exp_dir: Path, profile: Profile) -> list[RunSpec]:
    """The profile's runs (the pool sizes come from the data), recorded in the manifest."""
    pool_sizes = {s.train_task: len(load_items(s.train_task, s.train_split)) for s in profile.studies}
    specs = list(run_specs(profile, pool_sizes))
    layout = ExperimentLayout(exp_dir)
    record_runs(exp_dir, [spec.record(layout, profile.shots) for spec in specs])
    return specs


def run_experiment(exp_dir: Path, profile: Profile, base: Any, progress: bool = True, log=print) -> list[RunSpec]:
    """Train and evaluate everything ``profile`` asks for; returns the run specs.

    One overall bar (and ``EXP/progress.jsonl``) tracks the work left, with an ETA."""
    layout = ExperimentLayout(exp_dir)
    specs = plan_runs(exp_dir, profile)
    with job_progress.job(work_left(layout, profile, specs), enabled=progress, log=layout.progress_log):
        for study in profile.studies:
            for eval_set in study.eval_sets:
                unconditional_scores(layout, profile, eval_set, base)
        for index, spec in enumerate(specs, 1):
            log(f"[{index}/{len(specs)}] {spec.study.train_task}/{spec.name}: train up to N={spec.max_questions}")
            train_run(layout, profile, spec, base, progress)
            evaluate_spec(layout, profile, spec, base, progress)
            release_run_memory()
    return specs


def release_run_memory() -> None:
    """Collect a finished run's objects and hand the memory they held back to the OS, so resident
    memory does not creep up run after run."""
    gc.collect()
    release_freed_memory()


def work_left(layout: ExperimentLayout, profile: Profile, specs: list[RunSpec]) -> dict[str, float]:
    """Trained examples and scored choices (per model variant) that are not yet on disk.

    A pos head shared between runs (``_shared_pos_key``) is counted once: the evaluation reuses
    its scores."""
    examples = choices = 0.0
    base_counted: set[str] = set()
    for study in profile.studies:
        for e in study.eval_sets:
            if not layout.unconditional_scores(eval_folder_name(e.task, e.split, profile.shots, e.limit)).exists():
                choices += _n_choices(eval_items(e.task, e.split, e.limit, 0))
    checkpoints_left = []
    pos_scored: set[tuple] = set()
    for spec in specs:
        run = layout.run(layout.run_path(spec.study.train_task, spec.name))
        examples += _examples_left(run, spec)
        if (
            spec.strategy in ("hardest", "easiest")
            and not layout.training_base_scores(spec.study.train_task, spec.seed, spec.max_questions).exists()
        ):
            choices += _n_choices(_training_questions(spec))  # their base scores rank the negatives
        for e in spec.eval_sets:
            folder = eval_folder_name(e.task, e.split, profile.shots, e.limit, spec.ablated)
            n = _n_choices(eval_items(e.task, e.split, e.limit, profile.shots))
            if folder not in base_counted and not layout.base_scores(folder).exists():
                choices += n
            base_counted.add(folder)
            for name in _planned_checkpoints(spec, profile):
                if name == UNTRAINED:
                    continue
                if (run.eval_checkpoint(folder, name) / METRICS).exists():
                    pos_scored.add(_shared_pos_key(spec, folder, name))
                else:
                    checkpoints_left.append((spec, folder, name, n))
    for spec, folder, name, n in checkpoints_left:
        heads = len(method_heads(spec.method))
        key = _shared_pos_key(spec, folder, name)
        if key is not None and key in pos_scored:
            heads -= 1
        pos_scored.add(key)
        choices += heads * n
    return {"example": examples, "choice": choices}


def _shared_pos_key(spec: RunSpec, folder: str, checkpoint: str) -> tuple | None:
    """Runs with the same key train byte-identical pos heads: the pos head sees only the gold
    answers, so the negative types repeat the main curve's (tests/test_experiments.py checks it)."""
    if spec.method != DEFAULT_METHOD or spec.role not in ("curve", "negatives"):
        return None
    return (spec.study.train_task, spec.seed, spec.ablated, folder, checkpoint)


def _planned_checkpoints(spec: RunSpec, profile: Profile) -> list[str]:
    chosen = spec.checkpoints(profile)
    if chosen == "final":
        return [checkpoint_name(spec.max_questions)]
    if chosen == "all":
        return [UNTRAINED] + [checkpoint_name(n) for n in curve_sizes(spec.max_questions, profile.batch_size)]
    return list(chosen)


def _examples_left(run: RunLayout, spec: RunSpec) -> float:
    """Sequences still to train (a resumed run counts from its saved step): positives and negatives;
    sft trains the positives alone."""
    if read_manifest(run.root)["stages"].get("train", {}).get("status") == "complete":
        return 0.0
    items = _training_questions(spec)
    negatives = 0 if spec.method == "sft" else 1
    per_question = [1 + (item.n_choices - 1 if spec.strategy == "all" else negatives) for item in items]
    done_questions = _steps_done(run) * int(read_json(run.config)["train"]["batch_size"]) if run.config.exists() else 0
    return float(sum(per_question[done_questions:]))


def _steps_done(run: RunLayout) -> int:
    """The optimiser steps an interrupted run resumes after: likra's resume state, or for DPO/KTO
    the newest of transformers' ``checkpoint-<step>`` folders."""
    from transformers.trainer_utils import get_last_checkpoint  # what train_preference resumes from

    state = run.resume / RESUME_STATE
    if state.exists():
        return int(read_json(state)["step"])
    last = get_last_checkpoint(str(run.trainer_state)) if run.trainer_state.is_dir() else None
    return int(Path(last).name.rsplit("-", 1)[1]) if last else 0


def _training_questions(spec: RunSpec) -> list:
    return training_items(load_items(spec.study.train_task, spec.study.train_split), spec.seed, spec.max_questions)


def _n_choices(items: list) -> int:
    return sum(item.n_choices for item in items)


def train_run(layout: ExperimentLayout, profile: Profile, spec: RunSpec, base: Any, progress: bool) -> None:
    base_scores = training_base_scores(layout, spec, base) if spec.strategy in ("hardest", "easiest") else None
    train(
        layout.root / layout.run_path(spec.study.train_task, spec.name),
        model=profile.model,
        task=spec.study.train_task,
        split=spec.study.train_split,
        strategy=spec.strategy,
        max_questions=spec.max_questions,
        settings=TrainSettings(lr=method_lr(profile, spec.method), batch_size=profile.batch_size, seed=spec.seed),
        base_scores=base_scores,
        progress=progress,
        loaded=base,
        question_ablated=spec.ablated,
        method=spec.method,
    )


def evaluate_spec(layout: ExperimentLayout, profile: Profile, spec: RunSpec, base: Any, progress: bool) -> None:
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
            LazyModel(profile.model, loaded=base),
            progress=progress,
            shared_heads=layout.shared_head_scores(folder),
        )


def training_base_scores(layout: ExperimentLayout, spec: RunSpec, base: Any) -> Path:
    """Base scores of the questions a run trains on (what hardest/easiest rank by)."""
    path = layout.training_base_scores(spec.study.train_task, spec.seed, spec.max_questions)
    if not path.exists():
        rows, _ = score_items(
            base.model, base.tokenizer, _training_questions(spec), ("base",), max_length=base.max_length, progress=False
        )
        atomic_write_jsonl(path, rows)
    return path


def unconditional_scores(layout: ExperimentLayout, profile: Profile, eval_set: EvalSet, base: Any) -> Path:
    """log P_base(answer | "Answer:") for every choice: the calibration control's denominator."""
    path = layout.unconditional_scores(eval_folder_name(eval_set.task, eval_set.split, profile.shots, eval_set.limit))
    if not path.exists():
        items = [unconditional(i) for i in eval_items(eval_set.task, eval_set.split, eval_set.limit, 0)]
        rows, _ = score_items(base.model, base.tokenizer, items, ("base",), max_length=base.max_length, progress=False)
        atomic_write_jsonl(path, rows)
    return path
