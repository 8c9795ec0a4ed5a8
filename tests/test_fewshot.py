"""k-shot prompts: deterministic draws, never the item itself, lm-eval's joining."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fixtures import load_fixture
from likra.data.fewshot import FEWSHOT_DELIMITER, add_fewshot
from likra.data.items import Item
from likra.errors import LikraError


def make_pool(n: int) -> list[Item]:
    return [
        Item.shared(f"q{i}", f"question {i}", f"Question: question {i}\nAnswer:", [f"a{i}", f"b{i}"], i % 2)
        for i in range(n)
    ]


def test_k0_returns_items_unchanged() -> None:
    pool = make_pool(5)
    assert add_fewshot(pool, pool, 0) == pool


def test_joining_matches_lm_eval() -> None:
    pool = make_pool(2)
    (out,) = add_fewshot([pool[0]], pool, 1)
    # the only other item is q1, gold b1
    assert out.contexts == ("Question: question 1\nAnswer: b1\n\nQuestion: question 0\nAnswer:",) * 2
    assert out.continuations == pool[0].continuations and out.gold == pool[0].gold


def test_deterministic_and_seeded() -> None:
    pool = make_pool(50)
    items = pool[:10]
    first, again = add_fewshot(items, pool, 3), add_fewshot(items, pool, 3)
    assert first == again
    # one stream over the items in order (lm-eval's): the first L items keep their demos
    assert add_fewshot(items[:4], pool, 3) == first[:4]
    other_seed = add_fewshot(items, pool, 3, seed=99)
    assert other_seed != first


def _lm_eval_demos(items, pool, k: int, eval_doc_in_pool: bool) -> list[list[str]]:
    """lm-eval 0.4.13's own sampler over the same pool, fed the items in order (as demo texts)."""
    from lm_eval.api.samplers import ContextSampler

    sampler = ContextSampler([{"index": i, "id": d.id} for i, d in enumerate(pool)], rnd=1234)
    out = []
    for item in items:
        doc = next(({"index": i, "id": d.id} for i, d in enumerate(pool) if d.id == item.id), None)
        drawn = sampler.sample(k, eval_doc=doc if eval_doc_in_pool else None)
        out.append([pool[d["index"]].demonstration() for d in drawn])
    return out


def _likra_demos(items, pool, k: int) -> list[list[str]]:
    out = []
    for item, with_demos in zip(items, add_fewshot(items, pool, k)):
        prefix = with_demos.contexts[0].removesuffix(item.contexts[0])
        out.append(prefix.split(FEWSHOT_DELIMITER)[:-1])
    return out


def test_demonstrations_are_lm_evals_when_the_pool_is_another_split() -> None:
    """ARC-Challenge test items with demonstrations from its train split: lm-eval passes no
    eval_doc (the split differs) and draws k per item from one Random(1234) stream."""
    from likra.data.fewshot import fewshot_pool
    from likra.data.selection import load_items

    items = load_items("arc_challenge", "test")[:25]
    pool = fewshot_pool("arc_challenge")
    assert _likra_demos(items, pool, 5) == _lm_eval_demos(items, pool, 5, eval_doc_in_pool=False)


def test_demonstrations_are_lm_evals_when_the_pool_is_the_same_split() -> None:
    """A task whose demonstrations come from the evaluated split: lm-eval draws k + 1 and drops
    the item itself; likra does the same."""
    pool = make_pool(40)
    items = pool[:15]
    assert _likra_demos(items, pool, 3) == _lm_eval_demos(items, pool, 3, eval_doc_in_pool=True)


@settings(max_examples=40, deadline=None)
@given(n=st.integers(2, 30), k=st.integers(1, 5), seed=st.integers(0, 10_000), data=st.data())
def test_never_includes_self(n: int, k: int, seed: int, data: st.DataObject) -> None:
    k = min(k, n - 1)
    pool = make_pool(n)
    index = data.draw(st.integers(0, n - 1))
    (out,) = add_fewshot([pool[index]], pool, k, seed=seed)
    prefix = out.contexts[0].removesuffix(pool[index].contexts[0])
    demos = prefix.split("\n\n")
    assert demos[-1] == ""  # the prefix ends with the delimiter
    assert len(demos[:-1]) == k
    assert pool[index].demonstration() not in demos
    assert len(set(demos[:-1])) == k  # no demo twice


def test_excludes_identical_question_with_other_id() -> None:
    pool = make_pool(3)
    clone = Item.shared("other", "question 0", "Question: question 0\nAnswer:", ["a0", "b0"], 0)
    for seed in range(20):
        (out,) = add_fewshot([clone], pool, 2, seed=seed)
        assert "question 0\nAnswer: a0" not in out.contexts[0]
    # the global bound passes (3 <= 4 - 1) but only 2 pool items differ from this one
    pool.append(Item.shared("dup", "question 0", "Q", ["x", "y"], 0))
    with pytest.raises(LikraError, match="only 2 pool items differ"):
        add_fewshot([clone], pool, 3)


def test_k_too_large() -> None:
    pool = make_pool(4)
    with pytest.raises(LikraError, match="at most 3"):
        add_fewshot(pool, pool, 4)
    with pytest.raises(LikraError):
        add_fewshot(pool, pool, -1)


def test_winogrande_demos_and_per_choice_contexts() -> None:
    items = load_fixture("winogrande_validation")
    out = add_fewshot(items[:3], items, 2)
    for before, after in zip(items[:3], out):
        prefixes = {a.removesuffix(b) for a, b in zip(after.contexts, before.contexts)}
        assert len(prefixes) == 1  # one shared prefix for both option contexts
        assert after.train_contexts == before.train_contexts  # training form is untouched
        demos = prefixes.pop().split("\n\n")[:-1]
        assert all(d in {i.demonstration() for i in items} for d in demos)


def test_description_stays_first() -> None:
    """MMLU: lm-eval prints the description once, before the demonstrations."""
    items = load_fixture("mmlu_high_school_geography_test")
    description = items[0].meta["description"]
    (out,) = add_fewshot(items[:1], items, 2)
    context = out.contexts[0]
    assert context.startswith(description) and context.count(description) == 1
    body = context[len(description) :]
    demos = body.split("\n\n")
    assert len(demos) == 3 and demos[-1] == items[0].contexts[0][len(description) :]
    assert all(d.rsplit("\nAnswer: ", 1)[1] in {"A", "B", "C", "D"} for d in demos[:2])
    assert all(description not in d for d in demos)


def test_fewshot_pool_for_jsonl_and_tasks(tmp_path) -> None:  # noqa: ANN001
    import json

    from likra.data.fewshot import fewshot_pool

    path = tmp_path / "mine.jsonl"
    path.write_text(
        "".join(json.dumps({"question": f"q{i}", "choices": ["a", "b"], "answer": 0}) + "\n" for i in range(3))
    )
    pool = fewshot_pool(str(path))
    assert [i.id for i in pool] == ["mine-1", "mine-2", "mine-3"]
    (out,) = add_fewshot(pool[:1], pool, 2)
    assert out.contexts[0].count("Answer: a\n\n") == 2
    with pytest.raises(LikraError, match="no split to draw"):
        fewshot_pool("sciq")
