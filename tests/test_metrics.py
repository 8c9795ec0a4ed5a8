"""Metrics: hand-computed tables, Wilson intervals, and properties over random score tables."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from likra.errors import LikraError
from likra.metrics import (
    MODES,
    all_metrics,
    available_modes,
    mode_metrics,
    mode_score,
    predictions,
    weighted,
    weighted_neg_only,
    wilson_interval,
)

INF = math.inf


def row(gold, base, n_chars=None, pos=None, neg=None, id="q"):
    n_chars = n_chars or [1] * len(base)
    pos = pos if pos is not None else base
    neg = neg if neg is not None else base
    return {
        "id": id,
        "gold": gold,
        "choices": [
            {"base": b, "pos": p, "neg": q, "n_tokens": 1, "n_chars": c} for b, p, q, c in zip(base, pos, neg, n_chars)
        ],
    }


# A: raw right, normalised wrong; B: a tie (first choice wins, gold is second); C: right both ways.
TABLE = [
    row(0, [-1.0, -2.0], n_chars=[1, 10], id="A"),
    row(1, [-3.0, -3.0], n_chars=[3, 3], id="B"),
    row(2, [-5.0, -4.0, -1.0], n_chars=[1, 1, 1], id="C"),
]


def test_hand_computed_table() -> None:
    m = mode_metrics(TABLE, MODES["base"])
    assert m["acc"] == pytest.approx(2 / 3)
    assert m["acc_norm"] == pytest.approx(1 / 3)  # A: -1/1 < -2/10
    assert m["ties"] == 1 and m["ties_norm"] == 1
    assert m["acc_random_tiebreak"] == pytest.approx((1 + 0.5 + 1) / 3)
    assert m["acc_norm_random_tiebreak"] == pytest.approx((0 + 0.5 + 1) / 3)
    p = predictions(TABLE, MODES["base"])
    assert p["predicted"].tolist() == [0, 0, 2]
    assert p["tied"].tolist() == [False, True, False]
    assert m["acc_ci95"] == pytest.approx(list(wilson_interval(2, 3)))


def test_hand_computed_modes() -> None:
    table = [
        # gold 0. likra [2, 0.5] -> 0 right; sft [-1, -0.5] -> 1 wrong; neg-only [1, -1] -> 0 right;
        # pos-base [1, 1.5] -> 1 wrong; base tied -> 0 right
        row(0, base=[-2.0, -2.0], pos=[-1.0, -0.5], neg=[-3.0, -1.0]),
        # gold 1. likra [0, 1] -> 1 right; sft [-3, -1] -> 1 right; neg-only [2, 1] -> 0 wrong;
        # pos-base [-2, 0] -> 1 right; base tied -> 0 wrong
        row(1, base=[-1.0, -1.0], pos=[-3.0, -1.0], neg=[-3.0, -2.0]),
    ]
    m = all_metrics(table)
    assert set(m) == {"base", "sft", "likra", "neg-only", "pos-base"}
    assert m["likra"]["acc"] == 1.0
    assert m["sft"]["acc"] == m["neg-only"]["acc"] == m["pos-base"]["acc"] == m["base"]["acc"] == 0.5
    assert m["base"]["ties"] == 2 and m["base"]["acc_random_tiebreak"] == 0.5
    assert m["likra"]["ties"] == 0


def test_zero_length_choice_does_not_divide_by_zero() -> None:
    m = mode_metrics([row(1, [-1.0, -0.5], n_chars=[0, 0])], MODES["base"])
    assert m["acc_norm"] == 1.0


@pytest.mark.parametrize(
    "k, n, low, high",
    [
        (50, 100, 0.403832, 0.596168),
        (0, 10, 0.0, 0.277533),
        (10, 10, 0.722467, 1.0),
        (1, 2, 0.094531, 0.905469),
        (81, 100, 0.722212, 0.874852),
    ],
)
def test_wilson_interval_known_values(k, n, low, high) -> None:
    assert wilson_interval(k, n) == pytest.approx((low, high), abs=1e-5)


def test_wilson_interval_empty() -> None:
    assert wilson_interval(0, 0) == (0.0, 1.0)


def test_unknown_mode_suggests_closest() -> None:
    with pytest.raises(LikraError, match="Did you mean 'likra'"):
        mode_score("likr")
    with pytest.raises(LikraError, match="Did you mean 'neg-only'"):
        all_metrics(TABLE, ["negonly"])


@pytest.mark.parametrize("w_pos, w_neg", [(math.nan, 1.0), (1.0, math.inf), (-math.inf, 0.0)])
def test_non_finite_weight_refused(w_pos, w_neg) -> None:
    with pytest.raises(LikraError, match="finite"):
        weighted(w_pos, w_neg)


def test_non_finite_neg_only_weight_refused() -> None:
    with pytest.raises(LikraError, match="finite"):
        weighted_neg_only(math.nan)


def test_gold_out_of_range_refused() -> None:
    with pytest.raises(LikraError, match="gold 2"):
        all_metrics([row(2, [-1.0, -2.0])])


def test_available_modes_follow_columns() -> None:
    only_base = [{"id": "x", "gold": 0, "choices": [{"base": -1.0, "n_chars": 1}, {"base": -2.0, "n_chars": 1}]}]
    assert available_modes(only_base) == ["base"]
    assert list(all_metrics(only_base)) == ["base"]
    assert available_modes([]) == []


# ---- properties over random tables ----

score = st.one_of(
    st.floats(min_value=-200.0, max_value=0.0, allow_nan=False),
    st.sampled_from([-INF, INF, 0.0, -1.0]),
)


@st.composite
def rows_strategy(draw, min_items=1, max_items=8):
    out = []
    for i in range(draw(st.integers(min_items, max_items))):
        n = draw(st.integers(2, 5))
        out.append(
            {
                "id": f"q{i}",
                "gold": draw(st.integers(0, n - 1)),
                "choices": [
                    {
                        "base": draw(score),
                        "pos": draw(score),
                        "neg": draw(score),
                        "n_tokens": 1,
                        "n_chars": draw(st.integers(0, 40)),
                    }
                    for _ in range(n)
                ],
            }
        )
    return out


def first_argmax(values) -> int:
    values = np.where(np.isnan(values), -np.inf, np.asarray(values, dtype=np.float64))
    return int(np.flatnonzero(values == values.max())[0])


@settings(max_examples=150, deadline=None)
@given(rows_strategy())
def test_metric_invariants(rows) -> None:
    metrics = all_metrics(rows)
    n = len(rows)
    for m in metrics.values():
        for acc, ci, ties, rtb in (
            (m["acc"], m["acc_ci95"], m["ties"], m["acc_random_tiebreak"]),
            (m["acc_norm"], m["acc_norm_ci95"], m["ties_norm"], m["acc_norm_random_tiebreak"]),
        ):
            assert 0.0 <= acc <= 1.0 and 0.0 <= rtb <= 1.0
            assert 0.0 <= ci[0] <= acc <= ci[1] <= 1.0
            assert 0 <= ties <= n
            # tie-breaking can move at most the tied items
            assert acc - ties / n - 1e-12 <= rtb <= acc + ties / n + 1e-12
    likra = predictions(rows, MODES["likra"])["predicted"]
    for r, p in zip(rows, likra):
        assert p == first_argmax([c["pos"] - c["neg"] for c in r["choices"]])


@settings(max_examples=100, deadline=None)
@given(rows_strategy())
def test_weighted_special_cases(rows) -> None:
    for w, mode in ((weighted(1.0, 1.0), "likra"), (weighted(1.0, 0.0), "sft")):
        for normalise in (False, True):
            got = predictions(rows, w, normalise)
            want = predictions(rows, MODES[mode], normalise)
            assert got["predicted"].tolist() == want["predicted"].tolist()
            assert got["tied"].tolist() == want["tied"].tolist()
    for r in rows:
        for c in r["choices"]:
            assert weighted(1.0, 1.0)(c) == MODES["likra"](c) or math.isnan(MODES["likra"](c))
    got = predictions(rows, weighted_neg_only(1.0))["predicted"]
    assert got.tolist() == predictions(rows, MODES["neg-only"])["predicted"].tolist()


@settings(max_examples=60, deadline=None)
@given(rows_strategy(), st.floats(-50, 0, allow_nan=False))
def test_all_equal_scores_tie_to_first_choice(rows, value) -> None:
    flat = [{**r, "choices": [{**c, "base": value, "pos": value, "neg": value} for c in r["choices"]]} for r in rows]
    n = len(flat)
    for name, m in all_metrics(flat).items():
        assert m["ties"] == n
        assert m["acc"] == pytest.approx(np.mean([r["gold"] == 0 for r in flat]))
        assert m["acc_random_tiebreak"] == pytest.approx(np.mean([1 / len(r["choices"]) for r in flat]))
        assert predictions(flat, MODES[name])["predicted"].tolist() == [0] * n


@settings(max_examples=60, deadline=None)
@given(rows_strategy(min_items=1, max_items=1))
def test_single_item(rows) -> None:
    for m in all_metrics(rows).values():
        assert m["acc"] in (0.0, 1.0)
        assert m["acc_ci95"][0] <= m["acc"] <= m["acc_ci95"][1]


def test_infinite_scores() -> None:
    rows = [
        row(0, base=[-INF, -1.0], pos=[-INF, -INF], neg=[-INF, -2.0]),  # likra: [nan, -inf]
        row(1, base=[INF, -INF], pos=[0.0, INF], neg=[-INF, -INF]),
    ]
    m = all_metrics(rows)
    assert m["base"]["acc"] == 0.0  # item 0: -1 wins (choice 1); item 1: +inf wins (choice 0)
    # likra item 0: nan vs -inf -> both rank as -inf: a tie, first choice (gold) wins
    assert predictions(rows, MODES["likra"])["tied"].tolist()[0]
    assert m["likra"]["acc"] == pytest.approx(0.5)


def test_zero_weight_drops_the_term_even_for_infinite_scores() -> None:
    choice = {"base": -2.0, "pos": -1.0, "neg": -INF}
    assert weighted(1.0, 0.0)(choice) == -1.0  # sft, not NaN (0 * -inf)
    assert weighted_neg_only(0.0)(choice) == -2.0  # base
    assert weighted(2.0, 0.5)({"pos": -1.0, "neg": -4.0}) == 0.0


def test_softmax_probability_and_brier_by_hand():
    from likra.metrics import predictions, softmax_over_choices

    rows = [{"gold": 1, "choices": [{"s": np.log(1.0), "n_chars": 1}, {"s": np.log(3.0), "n_chars": 1}]}]
    found = predictions(rows, lambda c: c["s"])
    assert found["probability"][0] == pytest.approx(0.75)
    assert found["brier"][0] == pytest.approx(0.25**2 + 0.25**2)
    assert softmax_over_choices(np.array([0.0, np.inf, np.inf])).tolist() == [0.0, 0.5, 0.5]
    assert softmax_over_choices(np.array([-np.inf, -np.inf])).tolist() == [0.5, 0.5]
