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
from dataclasses import dataclass, field, replace

import numpy as np

from likra.experiments.stats import Estimate, Resampling, cut_to, cut_to_shares, estimate_statistic, resamplings

HOLDS, FAILS, INCONCLUSIVE = "holds", "does not hold", "inconclusive"
MATTERS_MARGIN = 0.01  # "the weight matters": tuning it gains more than 1 point on new items
# An interval edge this close to the margin, as a share of the interval's width, is "near the
# margin": the same experiment on another CPU and training precision moved 25 of 34 edges by less
# (docs/method.md, "Verdicts that move with the CPU").
NEAR_MARGIN = 0.1


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
    # Why T cannot decide on these data (a ratio whose denominator is not established): inconclusive
    undecidable: str = ""

    @property
    def verdict(self) -> str:
        return INCONCLUSIVE if self.undecidable else self.rule.decide(self.estimate)

    @property
    def near_margin(self) -> bool:
        """The interval's edge nearest the margin is within ``NEAR_MARGIN`` of its width from it:
        a verdict that a re-run on another CPU or training precision may well turn."""
        if self.undecidable:
            return False
        lo, hi = self.estimate.lo, self.estimate.hi
        if not (math.isfinite(lo) and math.isfinite(hi)) or hi <= lo:
            return False
        margin = self.rule.margin
        return min(abs(lo - margin), abs(hi - margin)) < NEAR_MARGIN * (hi - lo)

    def turned_verdict(self) -> str:
        """The verdict if the interval's edge nearest the margin crossed it."""
        if self.verdict != INCONCLUSIVE:
            return INCONCLUSIVE
        lo, hi, margin = self.estimate.lo, self.estimate.hi, self.rule.margin
        moves_above = abs(lo - margin) <= abs(hi - margin)
        return HOLDS if moves_above == (self.rule.side == ">") else FAILS

    def verdict_text(self) -> str:
        """The verdict, marked where it sits near the margin."""
        return f"{self.verdict}, near the margin" if self.near_margin else self.verdict

    def summary(self) -> str:
        digits = self.digits
        seeds = ""
        if self.estimate.per_seed:
            seeds = " (per seed " + ", ".join(f"{v:.{digits}f}" for v in self.estimate.per_seed) + ")"
        because = f" ({self.undecidable})" if self.undecidable else ""
        return (
            f"{self.name}: {self.rule.statistic} = {self.estimate.fmt(digits)}{seeds}; "
            f"paper: {self.rule.side} {self.rule.margin:g} → {self.verdict_text()}{because}"
        )

    def to_dict(self) -> dict:
        return {
            "name": self.name,
            "statistic": self.rule.statistic,
            "paper_side": self.rule.side,
            "margin": self.rule.margin,
            "estimate": self.estimate.to_dict(),
            "verdict": self.verdict,
            "near_margin": self.near_margin,
        } | ({"undecidable": self.undecidable} if self.undecidable else {})


def combine(verdicts: Sequence[str]) -> str:
    """A claim made of parts holds only where every part holds, fails where any part fails."""
    if verdicts and all(v == HOLDS for v in verdicts):
        return HOLDS
    return FAILS if FAILS in verdicts else INCONCLUSIVE


def decided_only_where(test: Test, gain: Test, what: str) -> Test:
    """``test``, if ``gain`` (the gain its ratio divides by) holds above 0; else inconclusive, saying
    why: a ratio over a gain that is not there says nothing about the claim."""
    if gain.verdict == HOLDS:
        return test
    return replace(test, undecidable=f"undecided: {what}, {gain.estimate.fmt(3)}, is not established above 0")


def run_test(name: str, rule: Rule, statistic, n_items: int, seeds: Sequence[int], digits: int = 3) -> Test:
    return Test(name, rule, estimate_statistic(statistic, n_items, seeds), digits)


def difference(name: str, statistic: str, a: Scores, b: Scores, side: str = ">", margin: float = 0.0) -> Test:
    """T = mean(a) - mean(b), paired by item (and seed where the seeds are the same)."""
    return run_test(name, Rule(statistic, side, margin), lambda r: a.mean(r) - b.mean(r), a.n_items, a.seeds)


def mean_of(scores: Scores) -> Estimate:
    return cut_to_shares(estimate_statistic(scores.mean, scores.n_items, scores.seeds), scores.values)


# --- Finding 1: per-example value, critical phase, jump -------------------------------------


def _trained(curve: Curve) -> list[int]:
    return sorted(n for n in curve if n > 0)


def _log2_crossing(r: Resampling, curve: Curve, target: np.ndarray) -> np.ndarray:
    """(rows,) log2 N where the curve, drawn straight between its scored N on a log2 N axis, first
    reaches ``target`` (its smallest N when it starts there; inf: never)."""
    sizes = _trained(curve)
    x = np.log2(np.asarray(sizes, dtype=np.float64))
    acc = np.stack([curve[n].mean(r) for n in sizes])  # (sizes, rows)
    reached = acc >= target - 1e-12
    first = reached.argmax(axis=0)
    cols = np.arange(acc.shape[1])
    before = np.maximum(first - 1, 0)
    a0, a1 = acc[before, cols], acc[first, cols]
    with np.errstate(divide="ignore", invalid="ignore"):
        share = np.where(a1 > a0, (target - a0) / (a1 - a0), 1.0)
    crossing = np.where(first == 0, x[0], x[before] + np.clip(share, 0.0, 1.0) * (x[first] - x[before]))
    return np.where(reached.any(axis=0), crossing, np.inf)


def examples_to_match(sft: Curve, likra: Curve, per_question: tuple[int, int] = (1, 2)) -> tuple[Test, dict]:
    """F1a: how many times fewer training examples likra needs to reach sft's final accuracy.

    The target is sft's accuracy at its largest N, which sft reaches by definition with its
    largest N's examples (no search along a noisy, flat sft curve). likra's examples are where its
    curve, straight between scored N on log2 N, first reaches the target (a positive and a
    negative per question). T = log2 E(sft) - log2 E(likra): 1 means half the examples; -inf when
    likra never gets there within its scored N."""
    target_n = _trained(sft)[-1]
    seeds = sft[target_n].seeds
    log2_sft = np.log2(per_question[0] * target_n)

    def log2_likra(r: Resampling) -> np.ndarray:
        return np.log2(per_question[1]) + _log2_crossing(r, likra, sft[target_n].mean(r))

    n_items = sft[target_n].n_items
    test = run_test(
        "examples to match",
        Rule(
            f"log2 E(sft) - log2 E(likra), E = training examples to reach sft's accuracy at N={target_n} "
            "(likra's curve interpolated on log2 N)",
            ">",
            0.0,
        ),
        lambda r: log2_sft - log2_likra(r),
        n_items,
        seeds,
    )
    bootstrap = resamplings(n_items, seeds)[2]
    numbers = {
        "target_N": target_n,
        "examples_sft": per_question[0] * target_n,
        "examples_likra": estimate_statistic(lambda r: 2.0 ** log2_likra(r), n_items, seeds),
        "share_of_draws_likra_never_matches": float(np.mean(~np.isfinite(log2_likra(bootstrap)))),
    }
    return test, numbers


SHARPNESS_MARGIN = 2.0  # a jump: the steepest step gains at least twice the curve's average rate


def _step_rates(r: Resampling, curve: Curve) -> tuple[np.ndarray, np.ndarray]:
    """(steps, rows) gain per doubling of N of every consecutive pair of scored N, and (rows,) the
    whole curve's average gain per doubling."""
    sizes = _trained(curve)
    widths = np.diff(np.log2(np.asarray(sizes, dtype=np.float64)))[:, None]
    acc = np.stack([curve[n].mean(r) for n in sizes])
    return np.diff(acc, axis=0) / widths, (acc[-1] - acc[0]) / widths.sum()


def _sharpness(r: Resampling, curve: Curve) -> np.ndarray:
    """(rows,) the steepest step's gain per doubling of N over the whole curve's gain per doubling
    (every consecutive pair of scored N, doublings or not); -inf where the curve gains nothing, so
    a curve that does not learn can never show a jump, and one that is flat within noise is
    undecided rather than "no jump"."""
    rates, average = _step_rates(r, curve)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(average > 0, rates.max(axis=0) / average, -np.inf)


def _steepest_step(r: Resampling, curve: Curve) -> list[str]:
    sizes = _trained(curve)
    return [f"{sizes[k]}->{sizes[k + 1]}" for k in _step_rates(r, curve)[0].argmax(axis=0)]


def jump(sft: Curve, likra: Curve) -> tuple[Test, dict] | None:
    """F1b: likra's curve has a sharp jump: T = its steepest step's gain per doubling of N over its
    average gain per doubling (1 for a curve straight on log N, the number of steps when one step
    carries the whole gain). Apart from the total gain by construction; sft's is reported beside."""
    if len(_trained(likra)) < 3:
        return None  # one step is its own average
    first = likra[_trained(likra)[0]]
    test = run_test(
        "the jump",
        Rule(
            "S(likra), S = steepest step's gain per doubling of N / the curve's average gain per doubling",
            ">",
            SHARPNESS_MARGIN,
        ),
        lambda r: _sharpness(r, likra),
        first.n_items,
        first.seeds,
    )
    per_seed = resamplings(first.n_items, first.seeds)[1]
    numbers: dict = {
        "steepest_step_per_seed": {"likra": _steepest_step(per_seed, likra)},
    }
    if len(_trained(sft)) >= 3:
        numbers["sharpness_sft"] = estimate_statistic(lambda r: _sharpness(r, sft), first.n_items, first.seeds)
        numbers["steepest_step_per_seed"]["sft"] = _steepest_step(per_seed, sft)
    return test, numbers


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


def _crossfit(by_weight: dict[float, Scores], halves: np.ndarray, r: Resampling) -> list[tuple[np.ndarray, np.ndarray]]:
    """For each direction (tune on one half, score on the other): the (weights, rows) accuracies
    on the tuning half and on the held-out half."""
    weights = sorted(by_weight)
    return [
        (
            np.stack([by_weight[w].mean(r, tune) for w in weights]),
            np.stack([by_weight[w].mean(r, held_out) for w in weights]),
        )
        for tune, held_out in ((halves, ~halves), (~halves, halves))
    ]


def _held_out_of_tied(acc_tune: np.ndarray, acc_out: np.ndarray, best: bool) -> np.ndarray:
    """(rows,) held-out accuracy of the weight best (or worst) on the tuning half; weights tied there
    share it equally, so no weight wins a tie by convention."""
    extreme = acc_tune.max(axis=0) if best else acc_tune.min(axis=0)
    tied = np.abs(acc_tune - extreme) <= 1e-12
    return (acc_out * tied).sum(axis=0) / tied.sum(axis=0)


def weight_matters(by_weight: dict[float, Scores], halves: np.ndarray, margin: float = MATTERS_MARGIN) -> Test:
    """F5a: the choice of w_neg changes accuracy on items it was not chosen on. T = held-out
    accuracy of the weight best on the other half minus that of the weight worst there, averaged
    over both directions (0 in expectation when every weight scores alike)."""

    def statistic(r: Resampling) -> np.ndarray:
        spreads = [
            _held_out_of_tied(tune, out, best=True) - _held_out_of_tied(tune, out, best=False)
            for tune, out in _crossfit(by_weight, halves, r)
        ]
        return np.mean(spreads, axis=0)

    one = next(iter(by_weight.values()))
    return run_test(
        "the weight matters",
        Rule("acc(best w_neg on the other half) - acc(worst w_neg on the other half), held-out halves", ">", margin),
        statistic,
        one.n_items,
        one.seeds,
    )


def crossfit_weight(by_weight: dict[float, Scores], halves: np.ndarray, margin: float = MATTERS_MARGIN) -> Test:
    """F5b: T = acc(w tuned on the other half) - acc(w = 1), on held-out halves, averaged over both.

    Weights tied for best on the tuning half share the choice (w = 1 gets no tie by convention)."""
    default = sorted(by_weight).index(1.0)

    def statistic(r: Resampling) -> np.ndarray:
        gains = [
            _held_out_of_tied(tune, out, best=True) - out[default] for tune, out in _crossfit(by_weight, halves, r)
        ]
        return np.mean(gains, axis=0)

    one = by_weight[1.0]
    return run_test(
        "tuning beats w_neg = 1",
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
    return _seed_weighted(auc, correct.seeds, r), _seed_weighted(at_half, correct.seeds, r)


def _seed_weighted(per_seed: list[np.ndarray], seeds: tuple[int, ...], r: Resampling) -> np.ndarray:
    """(rows,) a per-seed statistic (one (rows,) array per seed) averaged under each row's seed weights."""
    counts = r.seed_counts(seeds)
    return (counts * np.stack(per_seed, axis=1)).sum(axis=1) / counts.sum(axis=1)


def confidence_auroc(correct: Scores, confidence: Scores, r: Resampling) -> np.ndarray:
    """(rows,) AUROC of confidence for telling right answers from wrong ones: the chance that a
    right answer is more confident than a wrong one (ties count half). 0.5 when confidence carries
    no information, whatever the accuracy (unlike the area under accuracy-coverage).

    A drawn item repeated c times counts c times on its side: with items sorted by confidence and
    grouped by equal confidence, a right item's weight times the wrong weight below its group plus
    half the wrong weight inside it, over (right weight x wrong weight)."""
    out = []
    for s in range(len(correct.seeds)):
        order = np.argsort(confidence.values[s], kind="stable")
        conf, right = confidence.values[s][order], correct.values[s][order]
        counts = r.item_counts()[:, order]
        starts = np.flatnonzero(np.concatenate([[True], conf[1:] != conf[:-1]]))
        group = np.cumsum(np.concatenate([[True], conf[1:] != conf[:-1]])) - 1
        wrong = np.add.reduceat(counts * (1.0 - right), starts, axis=1)  # (rows, groups)
        below = np.cumsum(wrong, axis=1) - wrong
        wins = (counts * right * (below + 0.5 * wrong)[:, group]).sum(axis=1)
        pairs = (counts * right).sum(axis=1) * (counts * (1.0 - right)).sum(axis=1)
        with np.errstate(divide="ignore", invalid="ignore"):
            out.append(np.where(pairs > 0, wins / pairs, 0.5))
    return _seed_weighted(out, correct.seeds, r)


def confidence_difference(a: tuple[Scores, Scores], b: tuple[Scores, Scores], names: tuple[str, str]) -> Test:
    """F9: T = AUROC(a) - AUROC(b), each mode's confidence telling its right answers from its wrong ones."""
    return run_test(
        "confident errors",
        Rule(
            f"AUROC({names[0]}) - AUROC({names[1]}), AUROC = chance a right answer is more confident than a wrong one",
            ">",
            0.0,
        ),
        lambda r: confidence_auroc(*a, r) - confidence_auroc(*b, r),
        a[0].n_items,
        a[0].seeds,
    )


CALIBRATION_BINS = 10


def bin_sums(values: np.ndarray, bins: np.ndarray) -> np.ndarray:
    """(rows, CALIBRATION_BINS): each row's sum of ``values[:, i]`` over the items ``i`` in each bin.

    numpy's own summation, not a matmul with a one-hot matrix: BLAS orders a matmul's sums by
    its thread count, which moved a report's last digits from one machine to the next."""
    return np.stack([values[:, bins == b].sum(axis=1) for b in range(CALIBRATION_BINS)], axis=1)


def calibration_error(correct: Scores, probability: Scores, r: Resampling) -> np.ndarray:
    """(rows,) expected calibration error: over 10 equal-width bins of the predicted answer's
    probability, the item-weighted mean |accuracy - mean probability| of each bin."""
    out = []
    for s in range(len(correct.seeds)):
        bins = np.minimum((probability.values[s] * CALIBRATION_BINS).astype(np.int64), CALIBRATION_BINS - 1)
        counts = r.item_counts()
        right = bin_sums(counts * correct.values[s], bins)
        confident = bin_sums(counts * probability.values[s], bins)
        out.append(np.abs(right - confident).sum(axis=1) / counts.sum(axis=1))
    return _seed_weighted(out, correct.seeds, r)


def selective_estimates(correct: Scores, confidence: Scores) -> dict[str, Estimate]:
    n, seeds = correct.n_items, correct.seeds
    return {
        "auroc": cut_to(estimate_statistic(lambda r: confidence_auroc(correct, confidence, r), n, seeds), 0, 1),
        "auc": cut_to(estimate_statistic(lambda r: selective_accuracy(correct, confidence, r)[0], n, seeds), 0, 1),
        "acc_at_50": cut_to(
            estimate_statistic(lambda r: selective_accuracy(correct, confidence, r)[1], n, seeds), 0, 1
        ),
    }
