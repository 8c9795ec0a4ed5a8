"""Verdict rules: each claim's statistic T, declared before the data, and how T decides.

A rule names T, the side of a margin the paper predicts (T > m or T < m), and the margin m.
``holds``: T's whole 95% interval (two-level bootstrap, ``stats``) is on the paper's side of m;
``does not hold``: the whole interval is on the other side; ``inconclusive`` otherwise.
Every function here takes (seeds, items) matrices, so tests can feed it synthetic tables where
the claim is true, false or noise (docs/method.md, "Verdicts").
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from likra.experiments.stats import Estimate, Resampling, estimate_statistic, resamplings

HOLDS, FAILS, INCONCLUSIVE = "holds", "does not hold", "inconclusive"
CLOSE_MARGIN = 0.05  # "close" / "barely": within 5 accuracy points
MATTERS_MARGIN = 0.01  # "the weight matters": tuning it gains more than 1 point on new items


@dataclass(frozen=True)
class Scores:
    """One quantity per (training seed, evaluation item): correctness, a log-likelihood change, ..."""

    values: np.ndarray  # (seeds, items)
    seeds: tuple[int, ...]
    # Statistics ask for the same means many times; resamplings are long-lived (cached in stats).
    _means: dict = field(default_factory=dict, compare=False, repr=False)

    @property
    def n_items(self) -> int:
        return self.values.shape[-1]

    def mean(self, r: Resampling, mask: np.ndarray | None = None) -> np.ndarray:
        if mask is not None:
            return r.mean(self.values, self.seeds, mask)
        if id(r) not in self._means:  # r is kept alongside, so its id cannot be reused meanwhile
            self._means[id(r)] = (r, r.mean(self.values, self.seeds))
        return self._means[id(r)][1]


Curve = dict[int, Scores]  # training questions N -> scores


@dataclass(frozen=True)
class Rule:
    statistic: str
    side: str  # ">": the paper predicts T > margin; "<": T < margin
    margin: float = 0.0

    def decide(self, t: Estimate) -> str:
        above, below = t.lo > self.margin, t.hi < self.margin
        if self.side == "<":
            above, below = below, above
        return HOLDS if above else FAILS if below else INCONCLUSIVE

    def describe(self) -> str:
        return f"T = {self.statistic}; holds if its 95% interval lies entirely {self.side} {self.margin:g}"


@dataclass(frozen=True)
class Test:
    """A rule applied to the data: the estimate of T and the verdict."""

    name: str
    rule: Rule
    estimate: Estimate
    digits: int = 3

    @property
    def verdict(self) -> str:
        return self.rule.decide(self.estimate)

    def summary(self) -> str:
        digits = self.digits
        seeds = ""
        if self.estimate.per_seed:
            seeds = " (per seed " + ", ".join(f"{v:.{digits}f}" for v in self.estimate.per_seed) + ")"
        return (
            f"{self.name}: {self.rule.statistic} = {self.estimate.fmt(digits)}{seeds}; "
            f"paper: {self.rule.side} {self.rule.margin:g} → {self.verdict}"
        )

    def to_dict(self) -> dict:
        return {
            "name": self.name,
            "statistic": self.rule.statistic,
            "paper_side": self.rule.side,
            "margin": self.rule.margin,
            "estimate": self.estimate.to_dict(),
            "verdict": self.verdict,
        }


def combine(verdicts: Sequence[str]) -> str:
    """A claim made of parts holds only where every part holds, fails where any part fails."""
    if verdicts and all(v == HOLDS for v in verdicts):
        return HOLDS
    return FAILS if FAILS in verdicts else INCONCLUSIVE


def run_test(name: str, rule: Rule, statistic, n_items: int, seeds: Sequence[int], digits: int = 3) -> Test:
    return Test(name, rule, estimate_statistic(statistic, n_items, seeds), digits)


def difference(name: str, statistic: str, a: Scores, b: Scores, side: str = ">", margin: float = 0.0) -> Test:
    """T = mean(a) - mean(b), paired by item (and seed where the seeds are the same)."""
    return run_test(name, Rule(statistic, side, margin), lambda r: a.mean(r) - b.mean(r), a.n_items, a.seeds)


def mean_of(scores: Scores) -> Estimate:
    return estimate_statistic(scores.mean, scores.n_items, scores.seeds)


# --- Finding 1: per-example value, critical phase, jump -------------------------------------


def _trained(curve: Curve) -> list[int]:
    return sorted(n for n in curve if n > 0)


def _examples_reached(r: Resampling, curve: Curve, per_question: int, target: np.ndarray) -> np.ndarray:
    """Training examples at the first N whose accuracy reaches ``target`` (inf: never)."""
    sizes = _trained(curve)
    acc = np.stack([curve[n].mean(r) for n in sizes])
    reached = acc >= target - 1e-12
    first = np.asarray(sizes, dtype=np.float64)[reached.argmax(axis=0)] * per_question
    return np.where(reached.any(axis=0), first, np.inf)


def examples_to_match(sft: Curve, likra: Curve, per_question: tuple[int, int] = (1, 2)) -> tuple[Test, dict]:
    """F1a: examples each method needs to reach sft's accuracy at its largest N.

    E(m) counts training examples (sft: one positive per question; likra: a positive and a
    negative). T = E(sft) / E(likra); a draw where likra never gets there gives T = 0."""
    target_n = _trained(sft)[-1]
    seeds = sft[target_n].seeds

    def examples(r: Resampling) -> tuple[np.ndarray, np.ndarray]:
        target = sft[target_n].mean(r)
        return (
            _examples_reached(r, sft, per_question[0], target),
            _examples_reached(r, likra, per_question[1], target),
        )

    def ratio(r: Resampling) -> np.ndarray:
        e_sft, e_likra = examples(r)
        return np.where(np.isfinite(e_likra), e_sft / np.where(np.isfinite(e_likra), e_likra, 1.0), 0.0)

    n_items = sft[target_n].n_items
    test = run_test(
        "examples to match",
        Rule(f"E(sft) / E(likra), examples to reach sft's accuracy at N={target_n}", ">", 1.0),
        ratio,
        n_items,
        seeds,
    )
    bootstrap = resamplings(n_items, seeds)[2]
    never = float(np.mean(~np.isfinite(examples(bootstrap)[1])))
    numbers = {
        "target_N": target_n,
        "examples_sft": estimate_statistic(lambda r: examples(r)[0], n_items, seeds),
        "examples_likra": estimate_statistic(lambda r: examples(r)[1], n_items, seeds),
        "share_of_draws_likra_never_matches": never,
    }
    return test, numbers


def _doublings(curve: Curve) -> list[int]:
    return [n for n in _trained(curve) if 2 * n in curve]


def _steps(r: Resampling, curve: Curve) -> np.ndarray:
    """(doublings, rows): accuracy gained from N to 2N."""
    return np.stack([curve[2 * n].mean(r) - curve[n].mean(r) for n in _doublings(curve)])


def jump(sft: Curve, likra: Curve) -> tuple[Test, dict] | None:
    """F1b: T = J(likra) - J(sft), J = the largest gain between consecutive doublings of N."""
    if not _doublings(sft) or not _doublings(likra):
        return None
    any_scores = likra[_doublings(likra)[0]]
    test = run_test(
        "the jump",
        Rule("J(likra) - J(sft), J = largest gain from N to 2N", ">", 0.0),
        lambda r: _steps(r, likra).max(axis=0) - _steps(r, sft).max(axis=0),
        any_scores.n_items,
        any_scores.seeds,
    )
    per_seed = resamplings(any_scores.n_items, any_scores.seeds)[1]
    where = {
        mode: [f"{n}->{2 * n}" for n in np.asarray(_doublings(curve))[_steps(per_seed, curve).argmax(axis=0)]]
        for mode, curve in (("likra", likra), ("sft", sft))
    }
    return test, {"largest_step_per_seed": where}


def per_example_slopes(
    base: Scores, curves: dict[str, Curve], early: int, per_question: dict[str, int]
) -> tuple[Test, dict]:
    """F1c: (acc(m, N_e) - acc(base)) / examples(m, N_e) over the early phase; T = likra - sft."""

    def slope(mode: str):
        return lambda r: (curves[mode][early].mean(r) - base.mean(r)) / (per_question[mode] * early)

    seeds, n_items = curves["likra"][early].seeds, base.n_items
    test = run_test(
        "per-example slope",
        Rule(f"slope(likra) - slope(sft), accuracy per training example over N 0->{early}", ">", 0.0),
        lambda r: slope("likra")(r) - slope("sft")(r),
        n_items,
        seeds,
        digits=5,
    )
    numbers: dict = {"early_N": early}
    for mode in curves:
        numbers[f"slope_{mode}"] = estimate_statistic(slope(mode), n_items, seeds)
    if "neg-only" in curves and numbers["slope_sft"].lo > 0:  # a ratio needs a positive denominator
        with np.errstate(divide="ignore", invalid="ignore"):
            numbers["negative_vs_positive"] = estimate_statistic(
                lambda r: slope("neg-only")(r) / slope("sft")(r), n_items, seeds
            )
    return test, numbers


# --- Finding 2: near-miss vs implausible negatives ------------------------------------------


def near_vs_implausible(mode: str, near: Sequence[Curve], implausible: Curve, sizes: Sequence[int]) -> Test:
    """T = mean over near-miss strategies and N of acc(near, N) - acc(implausible, N)."""

    def statistic(r: Resampling) -> np.ndarray:
        diffs = [curve[n].mean(r) - implausible[n].mean(r) for curve in near for n in sizes]
        return np.mean(diffs, axis=0)

    first = implausible[sizes[0]]
    return run_test(
        f"{mode}: near-miss vs implausible",
        Rule(f"{mode} acc, near-miss minus other-question negatives (mean over N={list(sizes)})", ">", 0.0),
        statistic,
        first.n_items,
        first.seeds,
    )


# --- Finding 5: the negative head's weight, cross-fitted --------------------------------------


def item_halves(n_items: int, seed: int = 0) -> np.ndarray:
    """A fixed random half of the items (True) and the other half (False)."""
    mask = np.zeros(n_items, dtype=bool)
    mask[np.random.default_rng(seed).permutation(n_items)[: n_items // 2]] = True
    return mask


def crossfit_weight(by_weight: dict[float, Scores], halves: np.ndarray, margin: float = MATTERS_MARGIN) -> Test:
    """T = acc(w tuned on the other half) - acc(w = 1), on held-out halves, averaged over both.

    Ties in the tuning pick w = 1, so a weight is chosen only when it is strictly better."""
    weights = sorted(by_weight)
    default = weights.index(1.0)

    def statistic(r: Resampling) -> np.ndarray:
        gains = []
        for tune, held_out in ((halves, ~halves), (~halves, halves)):
            acc_tune = np.stack([by_weight[w].mean(r, tune) for w in weights])
            acc_out = np.stack([by_weight[w].mean(r, held_out) for w in weights])
            best = acc_tune >= acc_tune.max(axis=0) - 1e-12
            chosen = np.where(best[default], default, best.argmax(axis=0))
            gains.append(acc_out[chosen, np.arange(acc_out.shape[1])] - acc_out[default])
        return np.mean(gains, axis=0)

    one = by_weight[1.0]
    return run_test(
        "cross-fitted weight",
        Rule("acc(w_neg tuned on the other half of the items) - acc(w_neg = 1), held-out halves", ">", margin),
        statistic,
        one.n_items,
        one.seeds,
    )


# --- Beyond the paper: selective accuracy (confidence = margin) ------------------------------


def selective_accuracy(correct: Scores, confidence: Scores, r: Resampling) -> tuple[np.ndarray, np.ndarray]:
    """(rows,) area under the accuracy-coverage curve and accuracy at 50% coverage.

    Items are answered most-confident first; ties in confidence go in item order. A drawn item
    repeated c times fills c consecutive places, so each row needs no sort of its own: with
    K0 items answered before it and C0 of them right, its places add
    sum_j (C0 + j*y) / (K0 + j) = C0 * dH + y * (c - K0 * dH), dH = H(K0 + c) - H(K0)."""
    n = r.n_items
    harmonic = np.concatenate([[0.0], np.cumsum(1.0 / np.arange(1, n + 1))])
    half = math.ceil(n / 2)
    auc, at_half = [], []
    for s in range(len(correct.seeds)):
        order = np.lexsort((np.arange(n), -confidence.values[s]))
        right = correct.values[s][order]
        counts = r.item_counts()[:, order]
        k_end = np.cumsum(counts, axis=1)
        k0 = k_end - counts
        c_end = np.cumsum(counts * right, axis=1)
        c0 = c_end - counts * right
        dh = harmonic[k_end.astype(np.int64)] - harmonic[k0.astype(np.int64)]
        auc.append((c0 * dh + right * (counts - k0 * dh)).sum(axis=1) / n)
        covering = (k0 < half) & (k_end >= half)  # the item that fills place n/2
        at_half.append((covering * (c0 + right * (half - k0))).sum(axis=1) / half)
    counts = r.seed_counts(correct.seeds)
    weigh = lambda per_seed: (counts * np.stack(per_seed, axis=1)).sum(axis=1) / counts.sum(axis=1)  # noqa: E731
    return weigh(auc), weigh(at_half)


def selective_difference(a: tuple[Scores, Scores], b: tuple[Scores, Scores], names: tuple[str, str]) -> Test:
    """T = AUC(a) - AUC(b) of the accuracy-coverage curves."""
    return run_test(
        "selective accuracy",
        Rule(f"AUC({names[0]}) - AUC({names[1]}), area under accuracy-coverage", ">", 0.0),
        lambda r: selective_accuracy(*a, r)[0] - selective_accuracy(*b, r)[0],
        a[0].n_items,
        a[0].seeds,
    )


def selective_estimates(correct: Scores, confidence: Scores) -> dict[str, Estimate]:
    n, seeds = correct.n_items, correct.seeds
    return {
        "auc": estimate_statistic(lambda r: selective_accuracy(correct, confidence, r)[0], n, seeds),
        "acc_at_50": estimate_statistic(lambda r: selective_accuracy(correct, confidence, r)[1], n, seeds),
    }
