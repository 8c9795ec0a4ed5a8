"""Open-ended answers graded against an item's choices: the gold, a known wrong choice, or other.

The paper's abstract speaks of negatives reducing hallucination but measures only multiple-choice
accuracy. Asked the question without its choices, does a model *say* the plausible wrong answers it
was trained against? An answer names a choice when the choice's words appear in it as a whole run
of words (after lower-casing and dropping punctuation); the choice named first counts, the longer
one where two start together. Hand-written: string matching of a few lines, no library grades
against a fixed choice list this way.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from likra.metrics import wilson_interval

GRADES = ("gold", "wrong", "other")  # the gold choice, a known wrong choice, neither


def normalise(text: str) -> str:
    """Lower case, every run of non-alphanumeric characters one space, trimmed."""
    return " ".join(re.sub(r"[^0-9a-z]+", " ", text.lower()).split())


def grade(answer: str, choices: Sequence[str], gold: int) -> tuple[str, int | None]:
    """(grade, index of the choice the answer names, or None for ``other``)."""
    said = f" {normalise(answer)} "
    named = []
    for index, choice in enumerate(choices):
        words = normalise(choice)
        position = said.find(f" {words} ") if words else -1
        if position >= 0:
            named.append((position, -len(words), index))
    if not named:
        return "other", None
    index = min(named)[2]
    return ("gold" if index == gold else "wrong"), index


def grade_shares(grades: Sequence[str]) -> dict[str, dict[str, float]]:
    """Each grade's share of the answers with its 95% Wilson interval (one seed: items only)."""
    n = len(grades)
    shares = {}
    for name in GRADES:
        count = sum(g == name for g in grades)
        lo, hi = wilson_interval(count, n)
        shares[name] = {"share": count / n if n else 0.0, "lo": lo, "hi": hi, "count": count}
    return shares
