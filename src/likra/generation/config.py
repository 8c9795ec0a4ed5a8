"""``GenerateConfig``: every option of ``likra generate``, with its default, help and checks.

The decoding knobs' defaults are ``GenerateSettings``'s, which also checks them (when
``generate`` builds one: the mode's default depends on the target).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from likra.config import option
from likra.generation.decoding import MODES, GenerateSettings
from likra.generation.run import DEFAULT_BATCH, TASK_STOP
from likra.model.load import DEVICE_HELP, DEVICE_SHOWN, auto_dtype
from likra.model.precision import DEFAULT_DTYPE, SCORING, check_dtype_choice

DEFAULTS = GenerateSettings()  # the defaults, defined once in the settings class
DECODING = ("max_new_tokens", "sample", "temperature", "top_p", "seed", "alpha", "weight", "beta", "k")


@dataclass(frozen=True)
class GenerateConfig:
    """``likra generate``'s options (TARGET, the run or model, is the command's argument)."""

    prompt: list[str] | None = option(
        None, help="A prompt to continue (repeatable; \\n and \\t in it mean newline and tab). Or --task."
    )
    task: str | None = option(None, help="Generate for each question of this task (or .jsonl), without its choices.")
    split: str = option("test", help="Split of --task.")
    limit: int | None = option(None, help="Only the first N questions of --task.")
    mode: str | None = option(
        None,
        help=f"Decoding: {', '.join(MODES)}. Default: contrastive for a likra run, the run's adapter for "
        "a one-adapter run (sft: pos), base for a model.",
    )
    checkpoint: str = option("final", help="The run's checkpoint (N-64, ...; N-0 = untrained heads); final = the last.")
    max_new_tokens: int = option(DEFAULTS.max_new_tokens, help="Most tokens to generate per prompt.")
    sample: bool = option(False, help="Sample (temperature, top-p, seed) instead of greedy.", decls=("--sample",))
    temperature: float = option(DEFAULTS.temperature, help="Sampling temperature, > 0.")
    top_p: float = option(DEFAULTS.top_p, help="Nucleus sampling: keep the top tokens up to this mass, in (0, 1].")
    seed: int = option(DEFAULTS.seed, help="Seed of sampling (the same seed, the same text).")
    alpha: float = option(
        DEFAULTS.alpha, help="contrastive: keep tokens with p_pos >= alpha * the top token's, in (0, 1]."
    )
    weight: float = option(DEFAULTS.weight, help="contrastive: w in log p_pos - w log p_neg, >= 0.")
    beta: float = option(DEFAULTS.beta, help="experts: logits_base + beta (logits_pos - logits_neg).")
    k: int = option(DEFAULTS.k, help="rerank: candidates per prompt from the positive head, >= 1.")
    stop: list[str] | None = option(
        None,
        help="Stop at the first occurrence of this text and drop it (repeatable; \\n and \\t in it mean "
        f"newline and tab). Default: none for --prompt, {json.dumps(TASK_STOP[0])} for --task.",
    )
    batch_size: int = option(DEFAULT_BATCH, help="Prompts decoded together.")
    out: Path | None = option(None, help="Write one JSON row per prompt to this .jsonl file.")
    device: str | None = option(None, help=DEVICE_HELP, shown=DEVICE_SHOWN)
    dtype: str = option(DEFAULT_DTYPE, help="Precision: auto (= fp32, as scoring), fp32 or bf16.")
    grade: bool = option(
        False,
        help="With --task: grade each answer against the item's choices (gold, a known wrong choice, "
        "or other) and print each grade's share with its 95% interval.",
    )

    def __post_init__(self) -> None:
        check_dtype_choice(self.dtype)

    def resolved(self) -> GenerateConfig:
        """``auto`` made the precision it means (fp32, as scoring); the mode stays None when not
        given, since its default depends on the target."""
        return replace(self, dtype=auto_dtype(self.dtype, self.device, SCORING))

    def generate_arguments(self) -> dict[str, Any]:
        """The keyword arguments of ``likra.generation.run.generate`` that make these texts (the
        prompts are its second argument, ``prompt``)."""
        decoding = {name: getattr(self, name) for name in DECODING}
        if self.stop:
            decoding["stop"] = tuple(self.stop)
        return {
            "task": self.task,
            "split": self.split,
            "limit": self.limit,
            "checkpoint": self.checkpoint,
            "mode": self.mode,
            "device": self.device,
            "dtype": self.dtype,
            "batch_size": self.batch_size,
            "out": self.out,
            "grade": self.grade,
            **decoding,
        }
