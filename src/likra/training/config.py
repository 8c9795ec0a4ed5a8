"""``TrainConfig``: every option of ``likra train``, with its default, help and checks.

Options left at None take their value from the preset (``likra.training.presets``) or, for the
learning rate, from the method; ``resolved()`` fills them in and makes ``--dtype auto`` the
precision it means here, once. The run's config.json records the settings objects this config
composes (``LoraSettings``, ``TrainSettings``, ``PreferenceSettings``; ``likra.training.run``).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from likra.config import option
from likra.errors import LikraError, unknown_name
from likra.methods import DEFAULT_METHOD, METHODS, PREFERENCE_METHODS
from likra.model.heads import LoraSettings
from likra.model.load import DEVICE_HELP, DEVICE_SHOWN, auto_dtype
from likra.model.precision import DEFAULT_DTYPE, TRAINING, check_dtype_choice
from likra.model.resolve import DEFAULT_MODEL
from likra.tracking import REPORT_TO_HELP
from likra.training.loop import TrainSettings
from likra.training.preference import PreferenceSettings
from likra.training.presets import PRESETS, Preset, default_lr

LORA, TRAIN = LoraSettings(), TrainSettings()  # the defaults, defined once in the settings classes
TRAIN_DTYPE_HELP = (
    "Training precision of the base model: auto (bf16 where it trains faster: CUDA, AMX or AMD "
    "AVX512-BF16 CPUs; else fp32), fp32 or bf16."
)


@dataclass(frozen=True)
class TrainConfig:
    """``likra train``'s options; ``resolved()`` is the run they make."""

    model: str = option(DEFAULT_MODEL, help="Packaged name, model folder, .gguf file or Hub id.")
    task: str = option("arc", help="Training task (e.g. arc, hellaswag, winogrande) or a .jsonl file.")
    split: str = option("train", help="Split of the training task.")
    negatives: str = option("first", help="Negative strategy: first, random, all, hardest, easiest, other-question.")
    max_questions: int | None = option(None, help="Train on the first N questions of the seed's order.")
    seed: int = option(TRAIN.seed, help="Seed of the question order (and random negatives).")
    method: str = option(DEFAULT_METHOD, help=f"How to learn from the negatives: {', '.join(METHODS)}.")
    preset: str = option(
        "budget",
        help="budget: likra's budget (1 epoch, constant LR, likra's LoRA) for every method; "
        "reference: the reference code's DPO baseline (LoRA r=16 on all 7 projections, lr 5e-5 cosine, "
        "batch 4, 3 epochs). Options given explicitly override the preset.",
    )
    lr: float | None = option(None, help="Learning rate (AdamW). Default: the method's, from benchmarks/lr_sweep*.")
    beta: float = option(PreferenceSettings.beta, help="DPO/KTO beta.")
    unlikelihood_alpha: float = option(
        TRAIN.unlikelihood_alpha, help="Weight of the unlikelihood term (--method unlikelihood)."
    )
    batch_size: int | None = option(None, help="Questions per optimiser step.", shown=str(TRAIN.batch_size))
    epochs: int | None = option(None, help="Passes over the questions.", shown=str(TRAIN.epochs))
    save_every: int = option(TRAIN.save_every, help="Save resume state every N optimiser steps (and at checkpoints).")
    lora_r: int | None = option(None, help="LoRA rank.", shown=str(LORA.r))
    lora_alpha: int | None = option(None, help="LoRA alpha.", shown=str(LORA.alpha))
    lora_dropout: float = option(LORA.dropout, help="LoRA dropout probability, in [0, 1).")
    lora_targets: str | None = option(None, help="Comma-separated module names.", shown=",".join(LORA.target_modules))
    base_scores: Path | None = option(
        None, help="scores.jsonl of the base model on the training split (for hardest/easiest)."
    )
    contamination: float = option(0.0, help="Fraction of negatives replaced by positives.")
    device: str | None = option(None, help=DEVICE_HELP, shown=DEVICE_SHOWN)
    dtype: str = option(DEFAULT_DTYPE, help=TRAIN_DTYPE_HELP)
    activation_checkpointing: bool = option(
        TRAIN.activation_checkpointing,
        help="Recompute activations in backward: less memory; off trains ~20% faster on CPU for ~1 GB "
        "more with SmolLM2 (the same numbers either way).",
    )
    report_to: str = option("none", help=REPORT_TO_HELP)

    def __post_init__(self) -> None:
        check_dtype_choice(self.dtype)
        if self.preset not in PRESETS:
            raise unknown_name("preset", self.preset, list(PRESETS))
        if self.chosen_preset().lr_scheduler != "constant" and self.method not in PREFERENCE_METHODS:
            raise LikraError(
                f"preset '{self.preset}' is the reference's DPO baseline; use it with --method dpo or kto",
                field="preset",
            )

    def chosen_preset(self) -> Preset:
        return PRESETS[self.preset]

    def resolved(self) -> TrainConfig:
        """Every option decided: the preset's and the method's defaults in place of None, ``auto``
        made the precision it gives on this machine; the settings checked."""
        lora, settings = self.lora_settings(), self.train_settings()
        self.preference_settings()  # checked before anything runs
        return replace(
            self,
            lr=settings.lr,
            batch_size=settings.batch_size,
            epochs=settings.epochs,
            lora_r=lora.r,
            lora_alpha=lora.alpha,
            lora_targets=",".join(lora.target_modules),
            dtype=auto_dtype(self.dtype, self.device, TRAINING),
        )

    def lora_settings(self) -> LoraSettings:
        preset = self.chosen_preset().lora
        return LoraSettings(
            r=self.lora_r if self.lora_r is not None else preset.r,
            alpha=self.lora_alpha if self.lora_alpha is not None else preset.alpha,
            dropout=self.lora_dropout,
            target_modules=(
                tuple(t.strip() for t in self.lora_targets.split(",") if t.strip())
                if self.lora_targets is not None
                else preset.target_modules
            ),
        )

    def train_settings(self) -> TrainSettings:
        preset = self.chosen_preset()
        return TrainSettings(
            lr=self.lr if self.lr is not None else (preset.lr or default_lr(self.method)),
            batch_size=self.batch_size if self.batch_size is not None else preset.batch_size,
            epochs=self.epochs if self.epochs is not None else preset.epochs,
            seed=self.seed,
            save_every=self.save_every,
            unlikelihood_alpha=self.unlikelihood_alpha,
            activation_checkpointing=self.activation_checkpointing,
        )

    def preference_settings(self) -> PreferenceSettings:
        return PreferenceSettings(beta=self.beta, lr_scheduler=self.chosen_preset().lr_scheduler)

    def train_arguments(self) -> dict[str, Any]:
        """The keyword arguments of ``likra.api.train`` that make this run."""
        return {
            "model": self.model,
            "task": self.task,
            "split": self.split,
            "strategy": self.negatives,
            "max_questions": self.max_questions,
            "lora": self.lora_settings(),
            "settings": self.train_settings(),
            "base_scores": self.base_scores,
            "contamination": self.contamination,
            "device": self.device,
            "dtype": self.dtype,
            "method": self.method,
            "preference": self.preference_settings(),
            "report_to": self.report_to,
        }
