"""Every verdict rule can say all three things.

For each finding, synthetic tables (3 seeds x 300 items, 0/1 correctness) where the claim is true
must give "holds", where it is false "does not hold", and pure noise (identical distributions,
200 seeded draws) "inconclusive" in at least 90% of draws. A rule that cannot produce all three
outcomes is a defect. Noise draws use B = 1000 bootstrap samples (the report uses 2000) to keep
the suite fast; the percentile interval is the same statistic.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest

from likra.experiments import stats
from likra.experiments.findings import (
    critical_phase_tests,
    methods_test,
    negatives_alone_tests,
    plausible_wrong_tests,
    question_test,
)
from likra.experiments.rules import (
    FAILS,
    HOLDS,
    INCONCLUSIVE,
    Scores,
    combine,
    crossfit_weight,
    difference,
    item_halves,
    near_vs_implausible,
    selective_difference,
)

SEEDS, ITEMS, DRAWS = (42, 43, 44), 300, 200
SIZES = (32, 64, 128, 256)


def bern(rng: np.random.Generator, p: float) -> Scores:
    return Scores((rng.random((len(SEEDS), ITEMS)) < p).astype(float), SEEDS)


def curve(rng, ps) -> dict[int, Scores]:
    return {n: bern(rng, p) for n, p in zip(SIZES, ps)}


@pytest.fixture
def fast_bootstrap(monkeypatch):
    monkeypatch.setattr(stats, "BOOTSTRAP_SAMPLES", 1000)


def share_inconclusive(verdict_of: Callable[[np.random.Generator], str]) -> float:
    return float(np.mean([verdict_of(np.random.default_rng(1000 + d)) == INCONCLUSIVE for d in range(DRAWS)]))


# --- Finding 1 ----------------------------------------------------------------------------------


def finding1(rng, sft, likra, base=0.30) -> str:
    curves = {"sft": curve(rng, sft), "likra": curve(rng, likra), "neg-only": curve(rng, [base] * 4)}
    tests, _ = critical_phase_tests(curves, bern(rng, base), 128)
    return combine([t.verdict for t in tests])


def test_finding1_true_false_noise(fast_bootstrap):
    rng = np.random.default_rng(0)
    # true: likra reaches sft's final accuracy with half the examples, in one jump, faster per example
    assert finding1(rng, sft=[0.30, 0.36, 0.42, 0.56], likra=[0.35, 0.75, 0.78, 0.80]) == HOLDS
    # false: likra never gets there; sft has the large steps and the larger slope
    assert finding1(rng, sft=[0.30, 0.45, 0.60, 0.75], likra=[0.28, 0.29, 0.30, 0.31]) == FAILS
    # noise: nothing learns; every curve is the base model's distribution
    assert share_inconclusive(lambda r: finding1(r, [0.3] * 4, [0.3] * 4)) >= 0.9


def test_finding1_parts_decide_separately():
    rng = np.random.default_rng(5)
    curves = {
        "sft": curve(rng, [0.30, 0.36, 0.42, 0.56]),
        "likra": curve(rng, [0.35, 0.75, 0.78, 0.80]),
        "neg-only": curve(rng, [0.3] * 4),
    }
    tests, numbers = critical_phase_tests(curves, bern(rng, 0.3), 128)
    assert [t.name for t in tests] == ["examples to match", "the jump", "per-example slope"]
    assert [t.verdict for t in tests] == [HOLDS] * 3
    assert numbers["examples_to_match"]["examples_likra"].value == 128  # N=64, a positive and a negative each
    assert numbers["examples_to_match"]["examples_sft"].value == 256
    assert numbers["jump"]["largest_step_per_seed"]["likra"] == ["32->64"] * 3


# --- Finding 2 ----------------------------------------------------------------------------------


def finding2(rng, near: float, far: float) -> str:
    sizes = [32, 128]
    near_curves = [{n: bern(rng, near) for n in sizes} for _ in range(2)]
    return near_vs_implausible("likra", near_curves, {n: bern(rng, far) for n in sizes}, sizes).verdict


def test_finding2_true_false_noise(fast_bootstrap):
    rng = np.random.default_rng(0)
    assert finding2(rng, near=0.5, far=0.3) == HOLDS
    assert finding2(rng, near=0.3, far=0.5) == FAILS
    assert share_inconclusive(lambda r: finding2(r, 0.4, 0.4)) >= 0.9


# --- Finding 3 ----------------------------------------------------------------------------------


def flip_ones(rng, scores: Scores, share: float) -> Scores:
    """The same items, with a share of the 1s turned to 0 (a paired, item-level change)."""
    values = scores.values.copy()
    values[(values == 1) & (rng.random(values.shape) < share)] = 0
    return Scores(values, scores.seeds)


def finding3(rng, sft_lowers: float, pos_base: float, negatives: float) -> str:
    base = bern(rng, 0.73)
    outrank = {
        "base": base,
        "sft": flip_ones(rng, base, sft_lowers),
        "pos-base": bern(rng, pos_base),
        "likra": bern(rng, negatives),
        "neg-only": bern(rng, negatives),
    }
    return combine([t.verdict for t in plausible_wrong_tests(outrank)])


def test_finding3_true_false_noise(fast_bootstrap):
    rng = np.random.default_rng(0)
    # true: sft keeps the base ranking of plausible wrong answers; negatives push them down
    assert finding3(rng, sft_lowers=0.0, pos_base=0.6, negatives=0.3) == HOLDS
    # false: sft lowers them a lot, and negatives do worse than pos - base
    assert finding3(rng, sft_lowers=0.4, pos_base=0.3, negatives=0.7) == FAILS
    # noise: sft = base, and likra, neg-only and pos-base share one distribution
    assert share_inconclusive(lambda r: finding3(r, 0.0, 0.5, 0.5)) >= 0.9


# --- Finding 4 ----------------------------------------------------------------------------------


def finding4(rng, likra: float, neg_only: float, base: float) -> str:
    tests = negatives_alone_tests(bern(rng, likra), bern(rng, neg_only), bern(rng, base), 256)
    return combine([t.verdict for t in tests])


def test_finding4_true_false_noise(fast_bootstrap):
    rng = np.random.default_rng(0)
    likra = bern(rng, 0.5)
    close = negatives_alone_tests(likra, flip_ones(rng, likra, 0.02), bern(rng, 0.3), 256)
    assert combine([t.verdict for t in close]) == HOLDS
    assert finding4(rng, likra=0.6, neg_only=0.3, base=0.3) == FAILS
    assert share_inconclusive(lambda r: finding4(r, 0.4, 0.4, 0.4)) >= 0.9


# --- Finding 5 ----------------------------------------------------------------------------------

WEIGHTS = (0.0, 0.5, 1.0, 1.5, 2.0)


def finding5(rng, accuracy: dict[float, float]) -> str:
    by_weight = {w: bern(rng, accuracy.get(w, 0.3)) for w in WEIGHTS}
    return crossfit_weight(by_weight, item_halves(ITEMS)).verdict


def test_finding5_true_false_noise(fast_bootstrap):
    rng = np.random.default_rng(0)
    assert finding5(rng, {0.5: 0.5}) == HOLDS  # a weight other than 1 is better on new items
    assert finding5(rng, {1.0: 0.5}) == FAILS  # w = 1 is best: tuning cannot gain a point
    assert share_inconclusive(lambda r: finding5(r, dict.fromkeys(WEIGHTS, 0.4))) >= 0.9


def test_finding5_cannot_be_won_by_the_arithmetic_of_untrained_heads():
    """Untrained heads: w = 1 ties every choice (first choice wins); any w < 1 ranks like the base
    model. Tuning w on one half and scoring the other is what decides, not w = 1's own score."""
    rng = np.random.default_rng(1)
    base_like = bern(rng, 0.45)
    by_weight = {w: (bern(rng, 0.25) if w == 1.0 else base_like) for w in WEIGHTS}
    test = crossfit_weight(by_weight, item_halves(ITEMS))
    assert test.verdict == HOLDS and test.estimate.value == pytest.approx(0.2, abs=0.05)


# --- Controls (findings 6 and 7: likra against another score) -----------------------------------


def control(rng, likra: float, other: float) -> str:
    return difference("beats", "likra - other", bern(rng, likra), bern(rng, other)).verdict


def test_controls_true_false_noise(fast_bootstrap):
    rng = np.random.default_rng(0)
    assert control(rng, 0.5, 0.3) == HOLDS
    assert control(rng, 0.3, 0.5) == FAILS
    assert share_inconclusive(lambda r: control(r, 0.4, 0.4)) >= 0.9


# --- Finding 8: the question-ablated control ----------------------------------------------------


def finding8(rng, with_q: float, without_q: float) -> str:
    test, _ = question_test(
        {"likra": bern(rng, with_q), "base": bern(rng, 0.3)},
        {"likra": bern(rng, without_q), "base": bern(rng, 0.3)},
        128,
    )
    return test.verdict


def test_finding8_true_false_noise(fast_bootstrap):
    rng = np.random.default_rng(0)
    assert finding8(rng, with_q=0.5, without_q=0.3) == HOLDS
    assert finding8(rng, with_q=0.3, without_q=0.5) == FAILS
    assert share_inconclusive(lambda r: finding8(r, 0.4, 0.4)) >= 0.9


# --- Finding 9: selective accuracy ---------------------------------------------------------------


def confident(rng, correct: Scores, informative: bool) -> Scores:
    """Confidence that tracks correctness (informative) or ignores it."""
    noise = rng.random(correct.values.shape)
    return Scores(noise + (correct.values if informative else 0.0), correct.seeds)


def finding9(rng, likra_informative: bool, sft_informative: bool) -> str:
    likra, sft = bern(rng, 0.4), bern(rng, 0.4)
    return selective_difference(
        (likra, confident(rng, likra, likra_informative)), (sft, confident(rng, sft, sft_informative)), ("a", "b")
    ).verdict


def test_finding9_true_false_noise(fast_bootstrap):
    rng = np.random.default_rng(0)
    assert finding9(rng, likra_informative=True, sft_informative=False) == HOLDS
    assert finding9(rng, likra_informative=False, sft_informative=True) == FAILS
    assert share_inconclusive(lambda r: finding9(r, False, False)) >= 0.9


def test_selective_accuracy_by_hand():
    """Four items, confidences 0.9, 0.1, 0.5, 0.5 (tie: item order): answered 0, 2, 3, 1."""
    from likra.experiments.rules import selective_accuracy
    from likra.experiments.stats import resamplings

    correct = Scores(np.array([[1.0, 1.0, 0.0, 1.0]]), (1,))
    conf = Scores(np.array([[0.9, 0.1, 0.5, 0.5]]), (1,))
    auc, at_half = selective_accuracy(correct, conf, resamplings(4, (1,))[0])
    # accuracy at coverage 1..4 of order [1, 0, 1, 1] -> 1, 1/2, 2/3, 3/4
    assert auc[0] == pytest.approx(np.mean([1, 1 / 2, 2 / 3, 3 / 4]))
    assert at_half[0] == pytest.approx(1 / 2)


def test_selective_accuracy_of_bootstrap_rows_equals_sorting_the_drawn_items():
    """The closed form for repeated items agrees with answering the drawn multiset one by one."""
    from likra.experiments.rules import selective_accuracy
    from likra.experiments.stats import resamplings

    rng = np.random.default_rng(4)
    correct = Scores((rng.random((2, 25)) < 0.5).astype(float), (1, 2))
    conf = Scores(np.round(rng.random((2, 25)), 1), (1, 2))  # rounded: many ties
    draws = resamplings(25, (1, 2), samples=50)[2]
    auc, at_half = selective_accuracy(correct, conf, draws)
    seed_counts = draws.seed_counts((1, 2))
    for row in range(5):
        per_seed = []
        for s in range(2):
            index = np.sort(draws.item_index[row])
            order = np.argsort(-conf.values[s][index], kind="stable")
            right = correct.values[s][index][order]
            accuracy_at = np.cumsum(right) / np.arange(1, 26)
            per_seed.append((accuracy_at.mean(), accuracy_at[12]))
        weights = seed_counts[row] / seed_counts[row].sum()
        assert auc[row] == pytest.approx(sum(w * a for w, (a, _) in zip(weights, per_seed)))
        assert at_half[row] == pytest.approx(sum(w * h for w, (_, h) in zip(weights, per_seed)))


# --- Finding 10: likra against a method trained on the same negatives -------------------------


def finding10(rng, likra, dpo) -> str:
    sizes = list(SIZES[:2])
    other = {
        "dpo": dict(zip(sizes, (bern(rng, p) for p in dpo))),
        "dpo-ratio": dict(zip(sizes, (bern(rng, 0.3) for _ in sizes))),
    }
    test, numbers = methods_test(dict(zip(sizes, (bern(rng, p) for p in likra))), other, "dpo", sizes)
    assert "likra - dpo-ratio" in numbers  # reported beside the verdict, never deciding it
    return test.verdict


def test_finding10_true_false_noise(fast_bootstrap):
    rng = np.random.default_rng(10)
    assert finding10(rng, likra=[0.40, 0.45], dpo=[0.30, 0.31]) == HOLDS
    assert finding10(rng, likra=[0.30, 0.31], dpo=[0.40, 0.45]) == FAILS
    assert share_inconclusive(lambda r: finding10(r, [0.35, 0.35], [0.35, 0.35])) >= 0.9


def test_finding10_averages_over_the_shared_n():
    """T is the mean over N of the paired accuracy gaps: by hand on a constant table."""
    ones, zeros = np.ones((3, 10)), np.zeros((3, 10))
    likra = {32: Scores(ones, SEEDS), 64: Scores(ones, SEEDS)}
    dpo = {32: Scores(zeros, SEEDS), 64: Scores(ones, SEEDS)}
    test, _ = methods_test(likra, {"dpo": dpo, "dpo-ratio": dpo}, "dpo", [32, 64])
    assert test.estimate.value == pytest.approx(0.5)
    assert test.estimate.lo == pytest.approx(0.5) and test.estimate.hi == pytest.approx(0.5)
