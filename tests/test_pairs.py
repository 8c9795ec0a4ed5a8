"""Training pairs: every negative strategy on real fixture items, seeds, contamination, errors."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fixtures import load_fixture
from likra.data.items import Item
from likra.data.pairs import STRATEGIES, Example, build_pairs, wrong_choices
from likra.errors import LikraError


def fixture_items() -> list[Item]:
    """ARC (4-5 choices), HellaSwag train, CSQA (5), PIQA (2) and Winogrande (training form)."""
    return (
        load_fixture("arc_easy_test")
        + load_fixture("hellaswag_train")
        + load_fixture("csqa_validation")[:8]
        + load_fixture("piqa_validation")[:8]
        + load_fixture("winogrande_validation")
    )


def some_base_scores(items: list[Item]) -> dict[str, list[float]]:
    """Distinct made-up scores: choice i of item k gets -((7 * i + k) % 11) - i / 10."""
    return {item.id: [-((7 * i + k) % 11) - i / 10 for i in range(item.n_choices)] for k, item in enumerate(items)}


def pairs_for(strategy: str, items: list[Item], seed: int = 42, contamination: float = 0.0):
    scores = some_base_scores(items) if strategy in ("hardest", "easiest") else None
    return build_pairs(items, strategy, seed, scores, contamination)


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_positives_are_gold_and_negatives_differ(strategy: str) -> None:
    items = fixture_items()
    pairs = pairs_for(strategy, items)
    assert [p.item_id for p in pairs] == [i.id for i in items]
    for item, pair in zip(items, pairs):
        train = item.train_requests()
        assert pair.positive == Example(*train[item.gold])
        assert pair.negatives
        for negative in pair.negatives:
            assert negative.answer.strip() != pair.positive.answer.strip()
            assert negative != pair.positive
        if strategy != "other-question":
            own_wrong = {train[i] for i in wrong_choices(item)}
            assert {(n.context, n.answer) for n in pair.negatives} <= own_wrong


def test_winogrande_pairs_use_the_training_form() -> None:
    items = load_fixture("winogrande_validation")
    for item, pair in zip(items, build_pairs(items, "first")):
        # trained on option + rest of sentence after the shared prefix, not on the scored form
        assert pair.positive.context == item.train_contexts[item.gold]
        assert pair.positive.answer == item.train_continuations[item.gold]
        assert pair.positive.answer.strip().startswith(item.choices[item.gold])
        assert pair.negatives[0].answer.strip().startswith(item.choices[1 - item.gold])
        assert pair.negatives[0].context == pair.positive.context


def test_first_picks_first_wrong_choice() -> None:
    items = fixture_items()
    for item, pair in zip(items, build_pairs(items, "first")):
        first_wrong = 1 if item.gold == 0 else 0
        assert pair.negatives == (Example(*item.train_requests()[first_wrong]),)


def test_all_keeps_every_wrong_choice_in_order() -> None:
    items = fixture_items()
    for item, pair in zip(items, build_pairs(items, "all")):
        assert pair.negatives == tuple(Example(*item.train_requests()[i]) for i in wrong_choices(item))
        assert len(pair.negatives) == item.n_choices - 1


def test_hardest_and_easiest_follow_base_scores() -> None:
    items = fixture_items()
    scores = some_base_scores(items)
    hardest = build_pairs(items, "hardest", base_scores=scores)
    easiest = build_pairs(items, "easiest", base_scores=scores)
    for item, hard, easy in zip(items, hardest, easiest):
        wrong = wrong_choices(item)
        s = scores[item.id]
        answers = [a for _, a in item.train_requests()]
        assert hard.negatives[0].answer == answers[max(wrong, key=lambda i: s[i])]
        assert easy.negatives[0].answer == answers[min(wrong, key=lambda i: s[i])]
        assert len(hard.negatives) == len(easy.negatives) == 1


def test_hardest_never_picks_the_gold_even_if_it_scores_best() -> None:
    item = Item.shared("x", "q", "Question: q\nAnswer:", ["a", "b", "c"], gold=1)
    (pair,) = build_pairs([item], "hardest", base_scores={"x": [-5.0, -0.1, -3.0]})
    assert pair.negatives[0].answer == " c"
    (pair,) = build_pairs([item], "easiest", base_scores={"x": [-5.0, -9.0, -3.0]})
    assert pair.negatives[0].answer == " a"


@pytest.mark.parametrize("strategy", ["hardest", "easiest"])
def test_ranked_strategies_need_base_scores(strategy: str) -> None:
    with pytest.raises(LikraError, match="base scores") as error:
        build_pairs(fixture_items(), strategy)
    assert "likra eval" in str(error.value)


def test_ranked_strategies_check_the_scores() -> None:
    items = load_fixture("arc_easy_test")[:3]
    with pytest.raises(LikraError, match="no base scores for training item"):
        build_pairs(items, "hardest", base_scores={})
    bad = {i.id: [0.0] for i in items}
    with pytest.raises(LikraError, match="expected"):
        build_pairs(items, "easiest", base_scores=bad)


def test_train_refuses_ranked_strategy_without_scores_before_loading(tmp_path) -> None:
    from likra.training.run import train

    with pytest.raises(LikraError, match="base scores"):
        train(tmp_path / "run", model="does-not-exist", strategy="hardest", progress=False)
    assert not (tmp_path / "run").exists()


def test_unknown_strategy_suggests_closest() -> None:
    with pytest.raises(LikraError, match="Did you mean 'hardest'"):
        build_pairs(fixture_items(), "hardset")
    with pytest.raises(LikraError, match="Did you mean 'other-question'"):
        build_pairs(fixture_items(), "other_question")


@pytest.mark.parametrize("strategy", ["random", "other-question", "all", "first"])
def test_deterministic_per_seed(strategy: str) -> None:
    items = fixture_items()
    assert pairs_for(strategy, items, seed=7) == pairs_for(strategy, items, seed=7)


@pytest.mark.parametrize("strategy", ["random", "other-question"])
def test_seed_changes_random_draws(strategy: str) -> None:
    items = fixture_items()
    draws = {tuple(p.negatives for p in pairs_for(strategy, items, seed=s)) for s in range(4)}
    assert len(draws) > 1


def test_other_question_borrows_from_other_questions() -> None:
    items = fixture_items()
    answers_of = {item.id: {a for _, a in item.train_requests()} for item in items}
    all_answers = set().union(*answers_of.values())
    for seed in range(3):
        for item, pair in zip(items, build_pairs(items, "other-question", seed)):
            (negative,) = pair.negatives
            gold_context, gold_answer = item.train_requests()[item.gold]
            assert negative.context == gold_context  # asked after this question
            assert negative.answer.strip() != gold_answer.strip()
            assert negative.answer not in answers_of[item.id]  # not even one of its own choices
            assert negative.answer in all_answers


def test_other_question_with_a_single_item_is_an_error() -> None:
    with pytest.raises(LikraError, match="another question"):
        build_pairs(load_fixture("arc_easy_test")[:1], "other-question")


def test_bad_contamination_refused() -> None:
    with pytest.raises(LikraError, match="contamination"):
        build_pairs(fixture_items(), "first", contamination=1.5)


def synthetic_items(n: int, n_choices: int) -> list[Item]:
    return [
        Item.shared(
            f"s{k}", f"q{k}", f"Question: q{k}\nAnswer:", [f"c{k}_{i}" for i in range(n_choices)], k % n_choices
        )
        for k in range(n)
    ]


@settings(max_examples=40, deadline=None)
@given(
    p=st.floats(0.0, 1.0),
    seed=st.integers(0, 10_000),
    strategy=st.sampled_from(["first", "random", "all", "other-question"]),
)
def test_contamination_rate_is_respected(p: float, seed: int, strategy: str) -> None:
    items = synthetic_items(300, 3)
    pairs = build_pairs(items, strategy, seed, contamination=p)
    negatives = [(pair.positive, n) for pair in pairs for n in pair.negatives]
    contaminated = sum(n == positive for positive, n in negatives)
    total = len(negatives)
    if p == 0.0:
        assert contaminated == 0
    elif p == 1.0:
        assert contaminated == total
    else:
        sigma = math.sqrt(p * (1 - p) / total)
        assert abs(contaminated / total - p) <= 5 * sigma + 1 / total
    # the rest are untouched negatives of the strategy
    clean = build_pairs(items, strategy, seed) if strategy in ("first", "all") else None
    if clean is not None:
        for pair, reference in zip(pairs, clean):
            for n, ref in zip(pair.negatives, reference.negatives):
                assert n == ref or n == pair.positive
