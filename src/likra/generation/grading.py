"""Open-ended answers graded against an item's choices: the gold, a known wrong choice, or other.

The paper's abstract speaks of negatives reducing hallucination but measures only multiple-choice
accuracy. Asked the question without its choices, does a model *say* the plausible wrong answers it
was trained against? Three graders, each matching an answer to at most one of the item's choices
after normalisation (lower case, punctuation dropped):

- ``exact``: the answer is a choice, word for word (SQuAD's exact match);
- ``f1``: the choice whose words overlap the answer's most (SQuAD's token F1), if that F1 is at
  least ``F1_THRESHOLD`` and no other choice ties it: answers that say a choice in other words;
- ``contains``: the answer contains a choice's words as one run (the choice named first counts,
  the longer one where two start together).

Hand-written: string matching of a few lines, no library grades against a fixed choice list this way.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence

from likra.metrics import wilson_interval

GRADES = ("gold", "wrong", "other")  # the gold choice, a known wrong choice, neither
GRADERS = ("exact", "f1", "contains")
DECIDING_GRADER = "f1"  # finding 11's: it counts an answer that says a choice in its own words
F1_THRESHOLD = 0.5  # half the words shared both ways: "palms covered in oil" for "palms covered with oil"

Graded = tuple[str, int | None]  # (grade, index of the choice the answer names, or None for other)


def normalise(text: str) -> str:
    """Lower case, every run of non-alphanumeric characters one space, trimmed."""
    return " ".join(re.sub(r"[^0-9a-z]+", " ", text.lower()).split())


def token_f1(answer: str, reference: str) -> float:
    """SQuAD's token F1 of two texts' normalised words (0 when either has none)."""
    said, wanted = normalise(answer).split(), normalise(reference).split()
    shared = sum((Counter(said) & Counter(wanted)).values())
    if not shared:
        return 0.0
    precision, recall = shared / len(said), shared / len(wanted)
    return 2 * precision * recall / (precision + recall)


def _graded(index: int | None, gold: int) -> Graded:
    if index is None:
        return "other", None
    return ("gold" if index == gold else "wrong"), index


def grade_exact(answer: str, choices: Sequence[str], gold: int) -> Graded:
    """The choice the answer is, after normalisation (the first, should two choices read alike)."""
    said = normalise(answer)
    index = next((i for i, c in enumerate(choices) if said and normalise(c) == said), None)
    return _graded(index, gold)


def grade_f1(answer: str, choices: Sequence[str], gold: int, threshold: float = F1_THRESHOLD) -> Graded:
    """The choice of highest token F1 with the answer, if it reaches ``threshold`` and is the only one
    there (a tie between two choices names neither)."""
    scores = [token_f1(answer, c) for c in choices]
    best = max(scores, default=0.0)
    if best < threshold or scores.count(best) > 1:
        return "other", None
    return _graded(scores.index(best), gold)


def grade_contains(answer: str, choices: Sequence[str], gold: int) -> Graded:
    """The first choice whose words appear in the answer as one run of whole words."""
    said = f" {normalise(answer)} "
    named = []
    for index, choice in enumerate(choices):
        words = normalise(choice)
        position = said.find(f" {words} ") if words else -1
        if position >= 0:
            named.append((position, -len(words), index))
    return _graded(min(named)[2] if named else None, gold)


_GRADERS = {"exact": grade_exact, "f1": grade_f1, "contains": grade_contains}


def grade(answer: str, choices: Sequence[str], gold: int, grader: str = DECIDING_GRADER) -> Graded:
    """(grade, named choice) of one answer under one grader."""
    return _GRADERS[grader](answer, choices, gold)


def grade_all(answer: str, choices: Sequence[str], gold: int) -> dict[str, Graded]:
    """Every grader's (grade, named choice)."""
    return {name: _GRADERS[name](answer, choices, gold) for name in GRADERS}


def grade_shares(grades: Sequence[str]) -> dict[str, dict[str, float]]:
    """Each grade's share of the answers with its 95% Wilson interval (one seed: items only)."""
    n = len(grades)
    shares = {}
    for name in GRADES:
        count = sum(g == name for g in grades)
        lo, hi = wilson_interval(count, n)
        shares[name] = {"share": count / n if n else 0.0, "lo": lo, "hi": hi, "count": count}
    return shares


GRADE_NAMES = {"gold": "the gold answer", "wrong": "a known wrong choice", "other": "neither"}


def shares_lines(rows: Sequence[dict]) -> list[str]:
    """Each grader's shares of graded rows (``generate(..., grade=True)``), one line per grade."""
    lines = [f"=== graded {len(rows)} answers ({rows[0]['mode']}) against each item's choices"]
    for grader in GRADERS:
        shares = grade_shares([row["grade"][grader] for row in rows])
        lines.append(f"--- {grader}" + (f" (F1 >= {F1_THRESHOLD})" if grader == "f1" else ""))
        for name in GRADES:
            s = shares[name]
            lines.append(f"{GRADE_NAMES[name]:>22}: {s['share']:.3f} [{s['lo']:.3f}, {s['hi']:.3f}] ({s['count']})")
    return lines
