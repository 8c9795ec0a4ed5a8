"""Experiment profiles: what ``likra reproduce`` trains and evaluates, sized to a budget.

``default`` fits a 2-core CPU in about 30 minutes and still decides finding 1 on
ARC-Challenge; ``full`` is the paper-size experiment (all 6,615 ARC questions, full test sets,
HellaSwag and Winogrande); ``tiny`` runs the plumbing in seconds on a tiny random model (tests).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from pathlib import Path

from likra.errors import unknown_name


@dataclass(frozen=True)
class EvalSet:
    task: str
    split: str
    limit: int | None = None

    @property
    def key(self) -> str:
        """A folder- and label-safe name (a .jsonl path becomes its file stem)."""
        task = Path(self.task).stem if self.task.endswith(".jsonl") else self.task
        return f"{task}-{self.split}" + (f"-limit{self.limit}" if self.limit else "")


@dataclass(frozen=True)
class Study:
    """One training task with the sets it is evaluated on."""

    train_task: str
    eval_sets: tuple[EvalSet, ...]
    max_questions: int | None  # None = the whole pool
    train_split: str = "train"


@dataclass(frozen=True)
class Profile:
    name: str
    model: str
    studies: tuple[Study, ...]
    seeds: tuple[int, ...] = (42, 43, 44)
    lr: float = 1e-3
    batch_size: int = 32
    points: str = "checkpoints"  # or "subsets": independent runs on nested subsets
    negative_strategies: tuple[str, ...] = ("random", "hardest", "easiest", "other-question", "all")
    negatives_seeds: tuple[int, ...] = (42,)
    negatives_max_questions: int | None = 256
    ablation: bool = True  # question-ablated control run
    # Curve points scored for the negative-type and ablation runs (None = every checkpoint):
    # scoring, not training, dominates CPU time, so the default profile scores a few.
    negatives_eval_n: tuple[int, ...] | None = None
    ablation_eval_n: tuple[int, ...] | None = None
    weights: tuple[float, ...] = (0.0, 0.25, 0.5, 0.75, 1.0, 1.5, 2.0)
    shots: int = 0
    description: str = ""

    def to_dict(self) -> dict:
        return asdict(self)


ARC_C_TEST, ARC_E_TEST = EvalSet("arc_challenge", "test"), EvalSet("arc_easy", "test")

PROFILES: dict[str, Profile] = {
    "default": Profile(
        name="default",
        model="smollm2-135m",
        studies=(
            Study("arc", (EvalSet("arc_challenge", "test", 320), EvalSet("arc_easy", "test", 100)), 256),
        ),
        batch_size=16,
        negative_strategies=("random", "hardest", "other-question", "all"),
        negatives_max_questions=128,
        negatives_eval_n=(32, 128),
        ablation_eval_n=(64, 256),
        description=(
            "SmolLM2-135M on 2 CPU cores in under 30 minutes: train on the ARC pool up to N=256 "
            "questions (3 seeds; batch 16 so that one run's checkpoints fall at N=16, 32, 64, 128, "
            "256), evaluate every checkpoint on the first 320 ARC-Challenge and the first 100 "
            "ARC-Easy test items; negative types random, hardest, other-question and all (one seed, up to "
            "N=128; `easiest` is in the full profile) scored at N=32 and 128; "
            "the question-ablated control (one seed) at N=64 and 256. Scoring dominates the cost, "
            "so the evaluation subsets are sized for a 95% half-width of about 0.05 on ARC-Challenge."
        ),
    ),
    "full": Profile(
        name="full",
        model="smollm2-135m",
        studies=(
            Study("arc", (ARC_C_TEST, ARC_E_TEST), None),
            Study("hellaswag", (EvalSet("hellaswag", "validation"),), 8192),
            Study("winogrande", (EvalSet("winogrande", "validation"),), 8192),
        ),
        negatives_seeds=(42, 43, 44),
        negatives_max_questions=None,
        description="The paper-size experiment: every ARC question, full test sets, HellaSwag and Winogrande.",
    ),
}


def tiny_profile(model: str, train_task: str, eval_task: str) -> Profile:
    """Seconds-long plumbing check on a tiny model and small JSONL/fixture tasks (tests)."""
    return Profile(
        name="tiny",
        model=model,
        studies=(Study(train_task, (EvalSet(eval_task, "test"),), 16),),
        seeds=(1, 2),
        batch_size=4,
        negative_strategies=("other-question", "hardest"),
        negatives_max_questions=8,
        description="plumbing test",
    )


def get_profile(name: str, **overrides) -> Profile:
    if name not in PROFILES:
        raise unknown_name("profile", name, list(PROFILES))
    profile = PROFILES[name]
    return replace(profile, **{k: v for k, v in overrides.items() if v is not None})
