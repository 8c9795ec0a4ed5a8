"""The options of ``likra reproduce``, ``likra curve`` and ``likra negatives``, each a config class.

``ReproduceConfig`` names a profile and overrides some of its settings; its ``to_profile()`` is
the experiment. Its options are not resolved for ``--print-config``: ``reproduce`` resolves and
records the profile's precisions itself, and an override given again by a config file must be
the same override (it is part of the profile's description, which a resume checks).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from likra.config import option
from likra.experiments.profiles import (
    Profile,
    check_only_seeds,
    get_profile,
    parse_method_lrs,
    parse_seeds,
    profiles_help,
)
from likra.model.load import DEVICE_HELP, DEVICE_SHOWN, auto_dtype
from likra.model.precision import DEFAULT_DTYPE, SCORING, TRAINING, check_dtype_choice
from likra.model.resolve import DEFAULT_MODEL
from likra.training.loop import TrainSettings

TRAIN = TrainSettings()  # defaults are defined once, in the settings class
TRAIN_DTYPE_HELP = (
    "Training precision: auto (bf16 where it trains faster: CUDA, AMX or AMD AVX512-BF16 CPUs; else fp32), "
    "fp32 or bf16."
)
SCORE_DTYPE_HELP = "Scoring precision: auto (= fp32: a likelihood ratio needs it), fp32 or bf16."


@dataclass(frozen=True)
class ReproduceConfig:
    """``likra reproduce``'s options: a profile and what to override of it (None: the profile's)."""

    profile: str = option("default", help=profiles_help())
    model: str | None = option(None, help="Override the profile's model.")
    seeds: str | None = option(None, help="Comma-separated seeds, e.g. 42,43,44.")
    points: str | None = option(None, help="checkpoints (one run per seed) or subsets (a run per N).")
    lr: float | None = option(None, help="Override the profile's learning rate of likra's heads (constant AdamW).")
    device: str | None = option(None, help=DEVICE_HELP, shown=DEVICE_SHOWN)
    dtype: str | None = option(None, help="Override the profile's training precision: auto, fp32 or bf16.")
    score_dtype: str | None = option(
        None, help="Override the profile's scoring precision: auto (= fp32), fp32 or bf16."
    )
    method_lr: str | None = option(
        None, help="Other methods' learning rates, e.g. dpo=3e-3,unlikelihood=3e-3 (likra's is --lr)."
    )
    only_seeds: str | None = option(
        None,
        help="Run a part: only these seeds' runs (e.g. 42), the profile unchanged; the report is written "
        "once every run is scored (parts may run in different sessions: docs/results/README.md).",
    )

    def __post_init__(self) -> None:
        check_dtype_choice(self.dtype)
        check_dtype_choice(self.score_dtype)

    def resolved(self) -> ReproduceConfig:
        """The options as given (see the module docstring), checked by building the profile."""
        profile = self.to_profile()
        if self.only_seeds is not None:
            check_only_seeds(profile, self.part_seeds())
        return self

    def part_seeds(self) -> tuple[int, ...] | None:
        """``--only-seeds`` as seeds (None: the whole experiment)."""
        return parse_seeds(self.only_seeds) if self.only_seeds is not None else None

    def to_profile(self) -> Profile:
        """The experiment: the named profile with these overrides."""
        return get_profile(
            self.profile,
            model=self.model,
            seeds=parse_seeds(self.seeds) if self.seeds is not None else None,
            points=self.points,
            lr=self.lr,
            dtype=self.dtype,
            score_dtype=self.score_dtype,
            method_lrs=parse_method_lrs(self.method_lr) if self.method_lr else None,
        )


@dataclass(frozen=True)
class CurveConfig:
    """``likra curve``'s options: one training task's learning curves, evaluated on some sets."""

    train_task: str = option("arc", help="Training task or .jsonl file.")
    eval_task: list[str] = option(
        help="Evaluation task[:split[:limit]] (repeatable).", factory=lambda: ["arc_challenge:test"]
    )
    max_questions: int | None = option(None, help="Largest N.", shown="the whole pool")
    negatives: str = option("first", help="Comma-separated strategies; the first draws the main curve.")
    model: str = option(DEFAULT_MODEL, help="Packaged name, model folder, .gguf file or Hub id.")
    seeds: str = option("42,43,44", help="Comma-separated seeds (question orders).")
    points: str = option("checkpoints", help="checkpoints or subsets.")
    batch_size: int = option(TRAIN.batch_size, help="Questions per optimiser step.")
    lr: float = option(TRAIN.lr, help="Constant learning rate (AdamW).")
    ablation: bool = option(False, help="Also run the question-ablated control.")
    methods: str = option(
        "likra",
        help="Comma-separated training methods, each a curve on the same questions and negatives: "
        "likra (always drawn), sft, unlikelihood, dpo, kto.",
    )
    device: str | None = option(None, help=DEVICE_HELP, shown=DEVICE_SHOWN)
    dtype: str = option(DEFAULT_DTYPE, help=TRAIN_DTYPE_HELP)
    score_dtype: str = option(DEFAULT_DTYPE, help=SCORE_DTYPE_HELP)

    def __post_init__(self) -> None:
        check_dtype_choice(self.dtype)
        check_dtype_choice(self.score_dtype)

    def resolved(self) -> CurveConfig:
        """``auto`` made the precisions it means on this machine (as ``reproduce`` records them)."""
        return replace(
            self,
            dtype=auto_dtype(self.dtype, self.device, TRAINING),
            score_dtype=auto_dtype(self.score_dtype, self.device, SCORING),
        )

    def curve_arguments(self) -> dict[str, Any]:
        """The arguments of ``likra.api.curve`` after ``exp_dir`` that make this experiment."""
        return {
            "train_task": self.train_task,
            "eval_sets": list(self.eval_task),
            "max_questions": self.max_questions,
            "strategies": _names(self.negatives),
            "device": self.device,
            "model": self.model,
            "seeds": parse_seeds(self.seeds),
            "points": self.points,
            "batch_size": self.batch_size,
            "lr": self.lr,
            "ablation": self.ablation,
            "dtype": self.dtype,
            "score_dtype": self.score_dtype,
            "methods": _names(self.methods),
        }


@dataclass(frozen=True)
class NegativesConfig(CurveConfig):
    """``likra negatives``: a curve per negative strategy, one seed, no ablation or other methods
    (the fields without help are not its options)."""

    negatives: str = option("first,random,hardest,easiest,other-question,all", help="Strategies to compare.")
    seeds: str = option("42", help="Comma-separated seeds (question orders).")
    points: str = field(default="checkpoints")
    ablation: bool = field(default=False)
    methods: str = field(default="likra")


def _names(text: str) -> list[str]:
    return [name.strip() for name in text.split(",") if name.strip()]
