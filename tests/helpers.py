"""Helpers that only tests use: a seconds-long profile, a head's weights, a difference's interval."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from likra.experiments.profiles import EvalSet, Profile, Study
from likra.experiments.stats import Estimate, estimate_statistic


def tiny_profile(model: str, train_task: str, eval_task: str) -> Profile:
    """Seconds-long plumbing check on a tiny model and small JSONL/fixture tasks."""
    return Profile(
        name="tiny",
        model=model,
        studies=(Study(train_task, (EvalSet(eval_task, "test"),), 16),),
        seeds=(1, 2),
        batch_size=4,
        negative_strategies=("other-question", "hardest"),
        negatives_seeds=(1, 2),
        negatives_max_questions=8,
        methods=("unlikelihood", "dpo"),
        methods_max_questions=8,
        description="plumbing test",
    )


def head_state(peft_model: Any, name: str) -> dict:
    """A copy of one head's trainable weights."""
    from peft import get_peft_model_state_dict

    return {k: v.detach().clone() for k, v in get_peft_model_state_dict(peft_model, adapter_name=name).items()}


def difference_estimate(
    a: np.ndarray, b: np.ndarray, seeds_a: Sequence[int], seeds_b: Sequence[int] | None = None
) -> Estimate:
    """mean(a) - mean(b), paired by item (and by seed when the seed sets are the same)."""
    a, b = np.atleast_2d(a), np.atleast_2d(b)
    seeds_b = seeds_a if seeds_b is None else seeds_b
    return estimate_statistic(lambda r: r.mean(a, seeds_a) - r.mean(b, seeds_b), a.shape[1], seeds_a)
