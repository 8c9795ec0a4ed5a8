"""The work an experiment has left, in useful GFLOP per kind: what its overall ETA is priced by.

Kinds: ``train`` (likra's loop), ``preference`` (TRL's DPO/KTO trainers), ``score`` (one
forward pass of one model variant over an evaluation set) and ``generate`` (open-ended answers,
``likra.experiments.open_ended``). Each unit is the useful arithmetic of
the tokens involved (``likra.lm.flops``), so a question-ablated run, whose examples are a few
tokens, is planned as the cheap run it is. What is already on disk is not counted, so a resumed
job plans only what it will do.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from likra.data.pairs import NEEDS_BASE_SCORES
from likra.data.selection import eval_items
from likra.data.transforms import unconditional
from likra.errors import LikraError
from likra.experiments import open_ended
from likra.experiments.profiles import Profile
from likra.experiments.specs import RunSpec, curve_sizes, train_settings, training_questions
from likra.io import read_json
from likra.layout import (
    METRICS,
    RESUME_STATE,
    UNTRAINED,
    ExperimentLayout,
    RunLayout,
    checkpoint_name,
    eval_folder_name,
)
from likra.lm.flops import ModelFlops
from likra.methods import DEFAULT_METHOD, method_heads
from likra.rundir import read_manifest
from likra.score.scorer import pass_size
from likra.training.run import training_pairs
from likra.training.step_cost import step_gflop, work_kind


@dataclass
class WorkPlan:
    """Prices an experiment's stages for one loaded base model (tokenizer and parameter counts)."""

    layout: ExperimentLayout
    profile: Profile
    base: Any
    _passes: dict[tuple, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.flops = ModelFlops.of(self.base.model)

    def left(self, specs: list[RunSpec]) -> dict[str, float]:
        """GFLOP per kind still to do. A pos head shared between runs (``shared_pos_key``) is
        counted once: the evaluation reuses its scores."""
        work = {"train": 0.0, "preference": 0.0, "score": 0.0}
        for study in self.profile.studies:
            for e in study.eval_sets:
                folder = eval_folder_name(e.task, e.split, self.profile.shots, e.limit)
                if not self.layout.unconditional_scores(folder).exists():
                    work["score"] += self.pass_gflop(("answer-prior", folder), self._unconditional_requests(e))
        base_counted: set[str] = set()
        checkpoints_left = []
        pos_scored: set[tuple] = set()
        for spec in specs:
            kind, gflop = self.training_left(spec)
            work[kind] += gflop
            if spec.strategy in NEEDS_BASE_SCORES and not self._ranking_scores(spec).exists():
                questions = training_questions(spec)  # their base scores rank the negatives
                work["score"] += self.pass_gflop(("ranking", spec.seed, spec.max_questions), _requests(questions))
            run = self._run(spec)
            for e in spec.eval_sets:
                folder = eval_folder_name(e.task, e.split, self.profile.shots, e.limit, spec.ablated)
                gflop = self.pass_gflop(("eval", folder), _requests(self._eval_items(e, spec.ablated)))
                if folder not in base_counted and not self.layout.base_scores(folder).exists():
                    work["score"] += gflop
                base_counted.add(folder)
                for name in planned_checkpoints(spec, self.profile):
                    if name == UNTRAINED:
                        continue
                    if (run.eval_checkpoint(folder, name) / METRICS).exists():
                        pos_scored.add(shared_pos_key(spec, folder, name))
                    else:
                        checkpoints_left.append((spec, folder, name, gflop))
        for spec, folder, name, gflop in checkpoints_left:
            heads = len(method_heads(spec.method))
            key = shared_pos_key(spec, folder, name)
            if key is not None and key in pos_scored:
                heads -= 1
            pos_scored.add(key)
            work["score"] += heads * gflop
        if self.profile.open_ended is not None:
            runs = [spec.record(self.layout, self.profile.shots) for spec in specs]
            work[open_ended.KIND] = open_ended.work_left(self.layout, self.profile, runs, self.base, self.flops)
        return work

    def training_left(self, spec: RunSpec) -> tuple[str, float]:
        """The kind and GFLOP of the steps a run has still to train (a resumed run counts from its
        saved step). A hardest/easiest run whose ranking scores do not exist yet is priced with
        its first wrong answers: the same number of negatives, close in length."""
        kind = work_kind(spec.method)
        run = self._run(spec)
        if read_manifest(run.root)["stages"].get("train", {}).get("status") == "complete":
            return kind, 0.0
        ranking = self._ranking_scores(spec)
        ranked = spec.strategy not in NEEDS_BASE_SCORES or ranking.exists()
        pairs = training_pairs(
            spec.study.train_task,
            spec.study.train_split,
            spec.strategy if ranked else "first",
            spec.seed,
            spec.max_questions,
            spec.ablated,
            ranking if spec.strategy in NEEDS_BASE_SCORES and ranked else None,
        )
        settings = train_settings(self.profile, spec)
        per_step = step_gflop(
            self.base.tokenizer, pairs, spec.method, settings.batch_size, self.base.max_length, self.flops
        )
        total_steps = len(per_step) * settings.epochs
        return kind, sum(per_step[step % len(per_step)] for step in range(steps_done(run), total_steps))

    def pass_gflop(self, key: tuple, requests: list[tuple[str, str]]) -> float:
        """Useful GFLOP of one variant's scoring pass over ``requests`` (remembered by ``key``)."""
        if key not in self._passes:
            self._passes[key] = self.flops.forward_gflop(
                *pass_size(self.base.tokenizer, requests, self.base.max_length)
            )
        return self._passes[key]

    def _run(self, spec: RunSpec) -> RunLayout:
        return self.layout.run(self.layout.run_path(spec.study.train_task, spec.name))

    def _ranking_scores(self, spec: RunSpec) -> Path:
        return self.layout.training_base_scores(spec.study.train_task, spec.seed, spec.max_questions)

    def _eval_items(self, e: Any, ablated: bool) -> list:
        return eval_items(e.task, e.split, e.limit, self.profile.shots, ablate=ablated)

    def _unconditional_requests(self, e: Any) -> list[tuple[str, str]]:
        return _requests([unconditional(i) for i in eval_items(e.task, e.split, e.limit, 0)])


def unscored_runs(layout: ExperimentLayout, profile: Profile, specs: list[RunSpec]) -> list[RunSpec]:
    """The runs with a planned checkpoint that has no score table on one of its evaluation sets.

    Judged by the tables alone, not by adapters or training records, so an experiment assembled
    from parts (``likra reproduce --only-seeds``, each part's tables unpacked into one folder) is
    whole when every run is scored, wherever its heads were trained."""
    left = []
    for spec in specs:
        run = layout.run(layout.run_path(spec.study.train_task, spec.name))
        folders = [eval_folder_name(e.task, e.split, profile.shots, e.limit, spec.ablated) for e in spec.eval_sets]
        names = [name for name in planned_checkpoints(spec, profile) if name != UNTRAINED]
        if not all((run.eval_checkpoint(folder, name) / METRICS).exists() for folder in folders for name in names):
            left.append(spec)
    return left


def shared_pos_key(spec: RunSpec, folder: str, checkpoint: str) -> tuple | None:
    """Runs with the same key train byte-identical pos heads: the pos head sees only the gold
    answers, so the negative types repeat the main curve's (tests/test_experiments.py checks it)."""
    if spec.method != DEFAULT_METHOD or spec.role not in ("curve", "negatives"):
        return None
    return (spec.study.train_task, spec.seed, spec.ablated, folder, checkpoint)


def planned_checkpoints(spec: RunSpec, profile: Profile) -> list[str]:
    chosen = spec.checkpoints(profile)
    if chosen == "final":
        return [checkpoint_name(spec.max_questions)]
    if chosen == "all":
        return [UNTRAINED] + [checkpoint_name(n) for n in curve_sizes(spec.max_questions, profile.batch_size)]
    return list(chosen)


def steps_done(run: RunLayout) -> int:
    """The optimiser steps an interrupted run resumes after: likra's resume state, or for DPO/KTO
    the newest of transformers' ``checkpoint-<step>`` folders."""
    from likra.training.preference import resume_checkpoint  # what train_preference resumes from

    state = run.resume / RESUME_STATE
    if state.exists():
        try:
            return int(read_json(state)["step"])
        except (LikraError, OSError, KeyError, TypeError, ValueError):
            return 0  # damaged: the training loop warns and trains this run again from step 0
    last = resume_checkpoint(run.trainer_state)
    return int(Path(last).name.rsplit("-", 1)[1]) if last else 0


def _requests(items: list) -> list[tuple[str, str]]:
    return [request for item in items for request in item.requests()]
