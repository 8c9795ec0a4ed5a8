"""Rerank: k candidates from the positive head, ranked by the likra score per character.

The sequence-level use of the paper's own scorer: each candidate is scored exactly as a choice
is (``likra.score.scorer``: prompt as context, candidate as continuation, one packed pass per
head), and the best ``(log P_pos - log P_neg) / characters`` wins (the first on a tie).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from likra.generation.decoding import RERANK_SCORED


def n_chars(text: str) -> int:
    """Characters of a continuation without its leading space (as acc_norm counts a choice's)."""
    return len(text[1:]) if text.startswith(" ") else len(text)


def likra_per_char(
    model: Any, tokenizer: Any, prompts: Sequence[str], texts: Sequence[str], max_length: int, device: Any
) -> list[float]:
    """(log P_pos - log P_neg) / characters of each text after its prompt; -inf for empty text."""
    from likra.score.scorer import score_requests

    scored = [i for i, text in enumerate(texts) if n_chars(text) > 0]
    scores = [-math.inf] * len(texts)
    if not scored:
        return scores
    pairs = [(prompts[i], texts[i]) for i in scored]
    logs, _, _, _ = score_requests(
        model, tokenizer, pairs, RERANK_SCORED, max_length=max_length, device=device, progress=False
    )
    pos, neg = RERANK_SCORED
    for j, i in enumerate(scored):
        scores[i] = (logs[pos][j] - logs[neg][j]) / n_chars(texts[i])
    return scores


def best(scores: Sequence[float]) -> int:
    """Index of the first highest score."""
    return max(range(len(scores)), key=lambda i: (scores[i], -i))
