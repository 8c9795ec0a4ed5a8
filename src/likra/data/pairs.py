"""Training pairs: one positive (the gold answer) and negatives chosen by a named strategy.

A strategy decides which wrong answers a question contributes to the negative head:

- ``first``: the first listed wrong choice (the reference's deterministic rule);
- ``random``: one wrong choice drawn with the seed;
- ``all``: every wrong choice;
- ``hardest`` / ``easiest``: the wrong choice the base model finds most / least likely
  (needs base scores: ``{item_id: [loglik per choice]}`` from the scorer);
- ``other-question``: an answer borrowed from a random other question, never equal to the
  gold text -- the "implausible negative" control.

``contamination`` replaces that fraction of negatives by the question's positive.
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from likra.data.items import Item
from likra.errors import LikraError, unknown_name

STRATEGIES = ("first", "random", "all", "hardest", "easiest", "other-question")
NEEDS_BASE_SCORES = ("hardest", "easiest")


@dataclass(frozen=True)
class Example:
    """One training sequence: the loss covers ``answer`` tokens only."""

    context: str
    answer: str


@dataclass(frozen=True)
class QuestionExamples:
    """What one question contributes: a positive for the pos head, negatives for the neg head."""

    item_id: str
    positive: Example
    negatives: tuple[Example, ...]


def wrong_choices(item: Item) -> list[int]:
    return [i for i in range(item.n_choices) if i != item.gold]


def build_pairs(
    items: Sequence[Item],
    strategy: str = "first",
    seed: int = 42,
    base_scores: Mapping[str, Sequence[float]] | None = None,
    contamination: float = 0.0,
) -> list[QuestionExamples]:
    """One ``QuestionExamples`` per item, in item order; deterministic for a given seed."""
    if strategy not in STRATEGIES:
        raise unknown_name("negative strategy", strategy, STRATEGIES)
    if strategy in NEEDS_BASE_SCORES and base_scores is None:
        raise LikraError(
            f"negative strategy '{strategy}' ranks wrong answers by the base model's scores, "
            "but no base scores were given: run `likra eval` with the base model on the "
            "training split first (or pass base_scores)."
        )
    if not 0.0 <= contamination <= 1.0:
        raise LikraError(f"contamination must be in [0, 1], got {contamination}")
    rng = random.Random(seed)
    pairs = []
    for position, item in enumerate(items):
        train = item.train_requests()
        wrong = wrong_choices(item)
        if not wrong:
            raise LikraError(f"item '{item.id}' has no wrong choice to use as a negative")
        if strategy == "first":
            negatives = [Example(*train[wrong[0]])]
        elif strategy == "random":
            negatives = [Example(*train[rng.choice(wrong)])]
        elif strategy == "all":
            negatives = [Example(*train[i]) for i in wrong]
        elif strategy in NEEDS_BASE_SCORES:
            negatives = [Example(*train[_ranked_wrong(item, base_scores, strategy)])]
        else:
            negatives = [_other_question_negative(items, position, rng)]
        if contamination > 0:
            negatives = [
                Example(*train[item.gold]) if rng.random() < contamination else negative for negative in negatives
            ]
        pairs.append(QuestionExamples(item.id, Example(*train[item.gold]), tuple(negatives)))
    return pairs


def _ranked_wrong(item: Item, base_scores: Mapping[str, Sequence[float]], strategy: str) -> int:
    if item.id not in base_scores:
        raise LikraError(f"no base scores for training item '{item.id}'")
    scores = base_scores[item.id]
    if len(scores) != item.n_choices:
        raise LikraError(f"base scores for item '{item.id}' have {len(scores)} entries, expected {item.n_choices}")
    wrong = wrong_choices(item)
    pick = max if strategy == "hardest" else min
    return pick(wrong, key=lambda i: (scores[i], -i))


def _other_question_negative(items: Sequence[Item], position: int, rng: random.Random) -> Example:
    """A choice of another question, scored after this question's context (never its gold text)."""
    item = items[position]
    context = item.train_requests()[item.gold][0]
    gold_text = item.train_requests()[item.gold][1].strip()
    own = {answer.strip() for _, answer in item.train_requests()}
    for _ in range(1000):
        other = items[rng.randrange(len(items))]
        if other is item:
            continue
        answer = other.train_requests()[rng.randrange(other.n_choices)][1]
        if answer.strip() != gold_text and answer.strip() not in own:
            return Example(context, answer)
    raise LikraError("could not find an answer from another question that differs from the gold one")
