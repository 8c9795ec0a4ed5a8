"""``EvalConfig``: every option of ``likra eval``, with its default, help and checks."""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from likra.config import option
from likra.model.load import DEVICE_HELP, DEVICE_SHOWN, auto_dtype
from likra.model.precision import DEFAULT_DTYPE, SCORING, check_dtype_choice
from likra.tracking import REPORT_TO_HELP

SCORE_DTYPE_HELP = "Scoring precision: auto (= fp32: a likelihood ratio needs it), fp32 or bf16"


@dataclass(frozen=True)
class EvalConfig:
    """``likra eval``'s options (TARGET, the run or model, is the command's argument)."""

    task: str = option("arc_challenge", help="Evaluation task or .jsonl file.")
    split: str = option("test", help="Split of the evaluation task (needs public labels).")
    checkpoint: str = option("all", help="'all', 'final', or comma-separated names (N-0 = untrained).")
    limit: int | None = option(None, help="Only the first N items.")
    shots: int = option(0, help="k-shot demonstrations from the task's train split.")
    out: Path | None = option(None, help="Output folder when TARGET is a bare model.")
    device: str | None = option(None, help=DEVICE_HELP, shown=DEVICE_SHOWN)
    dtype: str = option(
        DEFAULT_DTYPE,
        help=f"{SCORE_DTYPE_HELP} (faster on some hardware; ratio modes lose their ranking at small N).",
    )
    report_to: str = option("none", help=REPORT_TO_HELP)

    def __post_init__(self) -> None:
        check_dtype_choice(self.dtype)

    def resolved(self) -> EvalConfig:
        """``auto`` made the scoring precision it means (fp32 on every device)."""
        return replace(self, dtype=auto_dtype(self.dtype, self.device, SCORING))

    def checkpoints(self) -> str | list[str]:
        """``--checkpoint`` as ``evaluate`` takes it: all, final, or a list of names."""
        if self.checkpoint in ("all", "final"):
            return self.checkpoint
        return [c.strip() for c in self.checkpoint.split(",")]

    def evaluate_arguments(self) -> dict[str, Any]:
        """The keyword arguments of ``likra.api.evaluate`` that make this evaluation."""
        return {
            "task": self.task,
            "split": self.split,
            "checkpoints": self.checkpoints(),
            "limit": self.limit,
            "shots": self.shots,
            "out_dir": self.out,
            "device": self.device,
            "dtype": self.dtype,
            "report_to": self.report_to,
        }
