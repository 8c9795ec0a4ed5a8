"""Modes, accuracies, ties and confidence intervals: pure arithmetic on a score table.

A score table row is ``{"id", "gold", "choices": [{"base", "pos", "neg", "n_tokens",
"n_chars"}, ...]}`` (see ``likra.score.scorer``). Nothing here touches a model, so a weight sweep
or a new metric costs milliseconds.

Tie rule: the prediction is the FIRST choice with the maximal score (numpy's argmax, as
lm-evaluation-harness and the reference code do). Items whose maximum is shared by several
choices are counted as ``ties``; ``acc_random_tiebreak`` gives the expected accuracy if ties were
broken uniformly at random instead. Untrained heads tie every likra score at exactly 0.
NaN scores (e.g. -inf minus -inf) rank below every number.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence

import numpy as np

from likra.errors import LikraError, unknown_name
from likra.methods import METHODS, Method

Score = Callable[[Mapping[str, float]], float]

MODES: dict[str, Score] = {
    "base": lambda c: c["base"],
    "sft": lambda c: c["pos"],
    "likra": lambda c: c["pos"] - c["neg"],
    "neg-only": lambda c: c["base"] - c["neg"],
    "pos-base": lambda c: c["pos"] - c["base"],
}
MODE_NEEDS = {
    "base": ("base",),
    "sft": ("pos",),
    "likra": ("pos", "neg"),
    "neg-only": ("base", "neg"),
    "pos-base": ("pos", "base"),
    "answer-prior": ("base", "base_uncond"),
}
# How much the question raises the answer's likelihood over a bare "Answer:" prompt. Related to,
# but not, lm-eval's acc_mutual_info (that uses an empty context, no length normalisation, and
# the same k-shot context as the main score); hence its own name.
MODES["answer-prior"] = lambda c: c["base"] - c["base_uncond"]


def add_method_modes(method: Method) -> None:
    """A single-adapter method's modes (likra.methods): the adapter's log-likelihood, and its
    ratio to the base model (for DPO, its implicit reward up to beta). sft's are sft and pos-base."""
    if method.single_adapter:
        name = method.name
        MODES[name] = lambda c: c[name]
        MODES[f"{name}-ratio"] = lambda c: c[name] - c["base"]
        MODE_NEEDS[name] = (name,)
        MODE_NEEDS[f"{name}-ratio"] = (name, "base")


for _method in METHODS.values():
    add_method_modes(_method)


def weighted(w_pos: float, w_neg: float) -> Score:
    """``w_pos * log P_pos - w_neg * log P_neg`` (w_neg = 0 is sft, w_pos = w_neg = 1 is likra)."""
    for name, value in (("w_pos", w_pos), ("w_neg", w_neg)):
        if not math.isfinite(value):
            raise LikraError(f"negative-head weights must be finite numbers, got {name}={value}", field=name)
    # A zero weight drops its term: 0 * -inf would be NaN and rank the choice last.
    return lambda c: (w_pos * c["pos"] if w_pos else 0.0) - (w_neg * c["neg"] if w_neg else 0.0)


def weighted_neg_only(w_neg: float) -> Score:
    """``log P_base - w_neg * log P_neg``: the neg-only analogue of the weighting ablation."""
    if not math.isfinite(w_neg):
        raise LikraError(f"negative-head weights must be finite numbers, got w_neg={w_neg}", field="w_neg")
    return lambda c: c["base"] - (w_neg * c["neg"] if w_neg else 0.0)


def mode_score(mode: str) -> Score:
    if mode not in MODES:
        raise unknown_name("mode", mode, list(MODES))
    return MODES[mode]


def available_modes(rows: Sequence[Mapping]) -> list[str]:
    """The modes a score table can compute (which columns it has)."""
    if not rows:
        return []
    columns = set(rows[0]["choices"][0])
    return [m for m, needs in MODE_NEEDS.items() if set(needs) <= columns]


def wilson_interval(successes: float, n: int, z: float = 1.959963984540054) -> tuple[float, float]:
    """95% Wilson score interval for a proportion (always contains the point estimate)."""
    if n == 0:
        return (0.0, 1.0)
    p = successes / n
    denominator = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denominator
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denominator
    return (max(0.0, min(p, centre - half)), min(1.0, max(p, centre + half)))


def _ranked(values: np.ndarray) -> np.ndarray:
    return np.where(np.isnan(values), -np.inf, values)


def predictions(rows: Sequence[Mapping], score: Score, normalise: bool = False) -> dict[str, np.ndarray]:
    """Per item: predicted choice, whether it is correct, whether the max was tied, tie credit,
    the margin (best minus second-best score: the mode's confidence), and the softmax of the
    scores over the choices: the predicted choice's probability and the Brier score."""
    predicted, correct, tied, credit, margin, probability, brier = [], [], [], [], [], [], []
    for row in rows:
        values = np.array([score(c) for c in row["choices"]], dtype=np.float64)
        if normalise:
            lengths = np.array([max(c["n_chars"], 1) for c in row["choices"]], dtype=np.float64)
            values = values / lengths
        values = _ranked(values)
        best = values.max()
        winners = np.flatnonzero(values == best)
        choice = int(winners[0])
        predicted.append(choice)
        correct.append(choice == row["gold"])
        tied.append(len(winners) > 1)
        credit.append(1.0 / len(winners) if row["gold"] in winners else 0.0)
        runner_up = np.sort(values)[-2] if values.size > 1 else best
        finite = np.isfinite(best) and np.isfinite(runner_up)
        margin.append(float(best - runner_up) if finite else (np.inf if np.isfinite(best) else 0.0))
        shares = softmax_over_choices(values)
        probability.append(float(shares[choice]))
        brier.append(float(((shares - (np.arange(values.size) == row["gold"])) ** 2).sum()))
    return {
        "predicted": np.array(predicted, dtype=np.int64),
        "correct": np.array(correct, dtype=bool),
        "tied": np.array(tied, dtype=bool),
        "credit": np.array(credit, dtype=np.float64),
        "margin": np.array(margin, dtype=np.float64),
        "probability": np.array(probability, dtype=np.float64),
        "brier": np.array(brier, dtype=np.float64),
    }


def softmax_over_choices(values: np.ndarray) -> np.ndarray:
    """A mode's scores as a distribution over the choices (uniform over the best where a score is
    +inf; -inf gets 0)."""
    best = values.max()
    if not np.isfinite(best):
        top = values == best if best == np.inf else np.ones(values.size, dtype=bool)
        return top / top.sum()
    weights = np.exp(values - best)
    return weights / weights.sum()


def mode_metrics(rows: Sequence[Mapping], score: Score) -> dict:
    """acc, acc_norm, their 95% CIs, and tie counts for one scoring rule."""
    n = len(rows)
    raw = predictions(rows, score)
    norm = predictions(rows, score, normalise=True)
    acc = float(raw["correct"].mean()) if n else 0.0
    acc_norm = float(norm["correct"].mean()) if n else 0.0
    return {
        "acc": acc,
        "acc_norm": acc_norm,
        "acc_ci95": list(wilson_interval(raw["correct"].sum(), n)),
        "acc_norm_ci95": list(wilson_interval(norm["correct"].sum(), n)),
        "ties": int(raw["tied"].sum()),
        "ties_norm": int(norm["tied"].sum()),
        "acc_random_tiebreak": float(raw["credit"].mean()) if n else 0.0,
        "acc_norm_random_tiebreak": float(norm["credit"].mean()) if n else 0.0,
    }


def check_rows(rows: Sequence[Mapping]) -> None:
    for row in rows:
        if not 0 <= row["gold"] < len(row["choices"]):
            raise LikraError(f"item '{row.get('id')}': gold {row['gold']} is not a choice index")


def all_metrics(rows: Sequence[Mapping], modes: Sequence[str] | None = None) -> dict[str, dict]:
    """Metrics of every requested mode (default: every mode the table supports)."""
    check_rows(rows)
    modes = list(modes) if modes is not None else available_modes(rows)
    return {mode: mode_metrics(rows, mode_score(mode)) for mode in modes}
