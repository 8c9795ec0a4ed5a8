"""Run the training runs and evaluations an experiment profile asks for (resumably).

Layout of an experiment directory::

    EXP/profile.json                  the profile that made it
    EXP/base/<eval folder>/base.jsonl base-model scores, shared by every run
    EXP/base/<eval folder>/uncond.jsonl  base scores after a bare "Answer:" (calibration control)
    EXP/base/train-<task>-seed<k>.jsonl  base scores of training questions (hardest/easiest)
    EXP/runs/<study>/<strategy>-s<seed>[-noq][-n<N>]/   ordinary run directories

Every run and evaluation skips what is already complete, so re-running resumes.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from likra.experiments.profiles import EvalSet, Profile, Study
from likra.io import atomic_write_jsonl
from likra.score.evaluate import eval_folder_name, eval_items, evaluate, task_label
from likra.train.loop import TrainSettings, question_order
from likra.train.run import load_items, train, training_items


@dataclass(frozen=True)
class RunSpec:
    """One training run of an experiment."""

    study: Study
    strategy: str
    seed: int
    max_questions: int | None
    ablated: bool = False
    role: str = "curve"  # curve | negatives | ablation

    @property
    def name(self) -> str:
        suffix = ("-noq" if self.ablated else "")
        return f"{self.strategy}-s{self.seed}{suffix}" + (f"-n{self.max_questions}" if self.role == "subset" else "")


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
            yield RunSpec(study, "first", profile.seeds[0], max_q, ablated=True, role="ablation")


def run_dir(exp_dir: Path, spec: RunSpec) -> Path:
    return exp_dir / "runs" / task_label(spec.study.train_task) / spec.name


def training_base_scores(exp_dir: Path, profile: Profile, spec: RunSpec, base: Any) -> Path:
    """Base scores of the questions a run trains on (what hardest/easiest rank by)."""
    from likra.score.scorer import score_items

    path = exp_dir / "base" / f"train-{task_label(spec.study.train_task)}-seed{spec.seed}-n{spec.max_questions}.jsonl"
    if not path.exists():
        items = load_items(spec.study.train_task, spec.study.train_split)
        chosen = training_items(items, spec.seed, spec.max_questions)
        rows, _ = score_items(base.model, base.tokenizer, chosen, ("base",), max_length=base.max_length,
                              progress=False)
        atomic_write_jsonl(path, rows)
    return path


def unconditional_scores(exp_dir: Path, profile: Profile, eval_set: EvalSet, base: Any) -> Path:
    """log P_base(answer | "Answer:") for every choice: the calibration control's denominator."""
    from likra.data.transforms import unconditional
    from likra.score.scorer import score_items

    folder = exp_dir / "base" / eval_folder_name(eval_set.task, eval_set.split, profile.shots, eval_set.limit)
    path = folder / "uncond.jsonl"
    if not path.exists():
        items = [unconditional(i) for i in eval_items(eval_set.task, eval_set.split, eval_set.limit, 0)]
        rows, _ = score_items(base.model, base.tokenizer, items, ("base",), max_length=base.max_length,
                              progress=False)
        atomic_write_jsonl(path, rows)
    return path


def run_experiment(exp_dir: Path, profile: Profile, base: Any, progress: bool = True, log=print) -> list[RunSpec]:
    """Train and evaluate everything ``profile`` asks for; returns the run specs."""
    pool_sizes = {s.train_task: len(load_items(s.train_task, s.train_split)) for s in profile.studies}
    specs = list(run_specs(profile, pool_sizes))
    for study in profile.studies:
        for eval_set in study.eval_sets:
            unconditional_scores(exp_dir, profile, eval_set, base)
    for index, spec in enumerate(specs, 1):
        folder = run_dir(exp_dir, spec)
        log(f"[{index}/{len(specs)}] {spec.study.train_task}/{spec.name}: train up to N={spec.max_questions}")
        base_scores = None
        if spec.strategy in ("hardest", "easiest"):
            base_scores = training_base_scores(exp_dir, profile, spec, base)
        train(
            folder,
            model=profile.model,
            task=spec.study.train_task,
            split=spec.study.train_split,
            strategy=spec.strategy,
            max_questions=spec.max_questions,
            settings=TrainSettings(lr=profile.lr, batch_size=profile.batch_size, seed=spec.seed),
            base_scores=base_scores,
            progress=progress,
            loaded=base,
            question_ablated=spec.ablated,
        )
        # Negative types and the ablation control are scored on the main evaluation set only.
        eval_sets = spec.study.eval_sets if spec.role in ("curve", "subset") else spec.study.eval_sets[:1]
        chosen: str | list[str] = "final" if spec.role == "subset" else "all"
        only = {"negatives": profile.negatives_eval_n, "ablation": profile.ablation_eval_n}.get(spec.role)
        if only:
            chosen = ["N-0"] + [f"N-{n}" for n in only if n <= (spec.max_questions or 0)]
        for eval_set in eval_sets:
            evaluate(
                folder,
                task=eval_set.task,
                split=eval_set.split,
                checkpoints=chosen,
                limit=eval_set.limit,
                shots=profile.shots,
                progress=progress,
                loaded=base,
                base_dir=exp_dir / "base",
            )
    return specs


__all__ = ["RunSpec", "run_experiment", "run_specs", "curve_sizes", "run_dir", "question_order"]
