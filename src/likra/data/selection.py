"""From a task name (or a .jsonl file) to the items a stage uses.

Training takes the pool in the seed's order (the first N questions are nested across N);
evaluation takes the first ``limit`` items of a split, with k-shot demonstrations if asked.
Either may apply the question-ablated control (every context replaced by a bare prompt).
"""

from __future__ import annotations

import random
from collections.abc import Sequence

from likra.data.items import Item
from likra.data.jsonl import resolve_items
from likra.data.transforms import without_question
from likra.errors import LikraError

FEWSHOT_SEED = 1234  # lm-eval's default seed for drawing demonstrations


def load_items(task: str, split: str, ablate: bool = False) -> list[Item]:
    """Items of a registered task, or of a user's JSONL file (a path ending in .jsonl).

    ``ablate`` removes the question from every context (the question-ablated control)."""
    items = resolve_items(task, split)
    return [without_question(item) for item in items] if ablate else items


def question_order(n_questions: int, seed: int) -> list[int]:
    """The seed's shuffle of the pool: the order in which questions are trained on."""
    order = list(range(n_questions))
    random.Random(seed).shuffle(order)
    return order


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


def eval_items(
    task: str, split: str, limit: int | None, shots: int, seed: int = FEWSHOT_SEED, ablate: bool = False
) -> list[Item]:
    """The evaluation items: the first ``limit`` of the split, with k-shot contexts if asked.

    ``ablate`` removes the question (the question-ablated control)."""
    from likra.data.fewshot import add_fewshot, fewshot_pool

    if limit is not None and limit < 1:
        raise LikraError(f"limit must be >= 1, got {limit}", field="limit")
    items = resolve_items(task, split)[:limit]
    if shots:
        items = add_fewshot(items, fewshot_pool(task), shots, seed)
    return [without_question(item) for item in items] if ablate else items
