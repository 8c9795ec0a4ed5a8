"""The training runs an experiment profile asks for: one ``RunSpec`` each, main curves first."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from likra.data.selection import load_items, training_items
from likra.experiments.profiles import EvalSet, Profile, Study, method_lr
from likra.layout import UNTRAINED, ExperimentLayout, checkpoint_name, curve_group, eval_folder_name, run_name
from likra.methods import DEFAULT_METHOD
from likra.training.loop import TrainSettings


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


def train_settings(profile: Profile, spec: RunSpec) -> TrainSettings:
    """The training settings of a run: the profile's batch size, the method's learning rate."""
    return TrainSettings(lr=method_lr(profile, spec.method), batch_size=profile.batch_size, seed=spec.seed)


def training_questions(spec: RunSpec) -> list:
    """The questions a run trains on, in training order."""
    return training_items(load_items(spec.study.train_task, spec.study.train_split), spec.seed, spec.max_questions)
