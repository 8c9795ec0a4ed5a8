"""``likra train``: from a task name to a run directory with checkpoints of both heads."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from likra.data.items import Item
from likra.data.pairs import NEEDS_BASE_SCORES, build_pairs
from likra.errors import LikraError
from likra.io import read_jsonl
from likra.model.heads import LoraSettings, attach_heads
from likra.rundir import check_config, locked, read_manifest
from likra.train.loop import TrainSettings, question_order, sorted_checkpoints, train_heads


def load_items(task: str, split: str, ablate: bool = False) -> list[Item]:
    """Items of a registered task, or of a user's JSONL file (a path ending in .jsonl).

    ``ablate`` removes the question from every context (the question-ablated control)."""
    from likra.data.jsonl import resolve_items

    items = resolve_items(task, split)
    if ablate:
        from likra.data.transforms import without_question

        items = [without_question(item) for item in items]
    return items


def training_items(items: Sequence[Item], seed: int, max_questions: int | None) -> list[Item]:
    """The training questions in the seed's order; the first N are nested across N."""
    if max_questions is not None:
        if max_questions < 1:
            raise LikraError(f"max_questions must be >= 1, got {max_questions}", field="max_questions")
        if max_questions > len(items):
            raise LikraError(
                f"asked for {max_questions} training questions but the pool has only {len(items)}",
                field="max_questions",
            )
    ordered = [items[i] for i in question_order(len(items), seed)]
    return ordered[:max_questions] if max_questions is not None else ordered


def base_scores_from_file(path: str | Path) -> dict[str, list[float]]:
    """``{item id: base log-likelihood per choice}`` from a ``likra eval`` scores file."""
    path = Path(path)
    if not path.exists():
        raise LikraError("base scores file does not exist", file=path)
    return {str(row["id"]): [c["base"] for c in row["choices"]] for row in read_jsonl(path)}


def train(
    run_dir: str | Path,
    model: str = "smollm2-135m",
    task: str = "arc",
    split: str = "train",
    strategy: str = "first",
    max_questions: int | None = None,
    lora: LoraSettings = LoraSettings(),
    settings: TrainSettings = TrainSettings(),
    base_scores: str | Path | None = None,
    contamination: float = 0.0,
    device: str | None = None,
    progress: bool = True,
    loaded: Any = None,
    question_ablated: bool = False,
) -> list[str]:
    """Train the pos and neg heads; returns the checkpoint names (``N-32``, ``N-64``, ...).

    Re-running on a finished run returns its checkpoints; on an interrupted run it resumes.
    ``loaded`` may pass an already loaded ``BaseModel`` (its heads are replaced).
    """
    run_dir = Path(run_dir)
    if strategy in NEEDS_BASE_SCORES and base_scores is None:
        build_pairs([], strategy)  # raises the explanatory error
    config = {
        "stage": "train",
        "model": model,
        "task": task,
        "split": split,
        "strategy": strategy,
        "max_questions": max_questions,
        "contamination": contamination,
        "base_scores": str(base_scores) if base_scores else None,
        "question_ablated": question_ablated,
        "lora": lora.to_dict(),
        "train": settings.to_dict(),
    }
    items = load_items(task, split, question_ablated)
    ordered = training_items(items, settings.seed, max_questions)
    scores = base_scores_from_file(base_scores) if base_scores else None
    pairs = build_pairs(ordered, strategy, settings.seed, scores, contamination)
    with locked(run_dir):
        if (run_dir / "config.json").exists():
            check_config(run_dir, config)
            if read_manifest(run_dir)["stages"].get("train", {}).get("status") == "complete":
                return sorted_checkpoints(run_dir / "checkpoints")
        from likra.model.load import load_base

        base = loaded if loaded is not None else load_base(model, device=device)
        import torch

        with torch.random.fork_rng(devices=[]):  # LoRA A's init comes from the run's seed alone
            torch.manual_seed(settings.seed)
            peft_model = attach_heads(base.model, lora)
        try:
            # A new run's config is written only once its model and heads load, so a typo in
            # --model leaves no config behind that would refuse the corrected command.
            check_config(run_dir, config)
            return train_heads(peft_model, base.tokenizer, pairs, run_dir, settings, base.max_length, progress)
        finally:
            peft_model.unload()  # restore the plain base model (it may be reused by the caller)
