"""Open-ended answers graded against an item's choices (likra.generation.grading)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from likra.generation.grading import F1_THRESHOLD, GRADERS, GRADES, grade, grade_all, grade_shares, normalise, token_f1
from test_generate import tiny_run  # noqa: F401  (the module-scoped trained tiny run)

words = st.text(alphabet="abcdefgh ", min_size=1, max_size=12).filter(lambda s: normalise(s))

CHOICES = ["dry palms", "wet palms", "palms covered with oil", "palms covered with lotion"]


@pytest.mark.parametrize(
    ("answer", "expected"),
    [
        (" Dry palms.", ("gold", 0)),
        ("Wet palms, because water lowers friction", ("wrong", 1)),
        ("palms covered with oil", ("wrong", 2)),  # the whole choice, not the shorter one inside it
        ("I think dry palms, not wet palms", ("gold", 0)),  # the choice named first
        ("the palms", ("other", None)),
        ("drywet palms", ("other", None)),  # whole words only
        ("", ("other", None)),
    ],
)
def test_contains_names_the_first_whole_choice(answer: str, expected: tuple) -> None:
    assert grade(answer, CHOICES, 0, "contains") == expected


@pytest.mark.parametrize(
    ("answer", "exact", "f1"),
    [
        (" Dry palms.", ("gold", 0), ("gold", 0)),
        ("palms covered in oil", ("other", None), ("wrong", 2)),  # in other words: F1 0.75
        ("Wet palms, because water lowers friction", ("other", None), ("wrong", 1)),  # F1 = 2/6 vs 2/2: 0.5
        ("Wet palms, because water lowers the friction", ("other", None), ("other", None)),  # F1 0.44
        ("palms covered", ("other", None), ("other", None)),  # ties oil and lotion (0.67 each): neither
        ("", ("other", None), ("other", None)),
    ],
)
def test_exact_and_f1_graders(answer: str, exact: tuple, f1: tuple) -> None:
    assert grade(answer, CHOICES, 0, "exact") == exact
    assert grade(answer, CHOICES, 0, "f1") == f1
    assert set(grade_all(answer, CHOICES, 0)) == set(GRADERS)


@given(words, words)
def test_token_f1_is_symmetric_bounded_and_one_on_itself(a: str, b: str) -> None:
    assert token_f1(a, b) == pytest.approx(token_f1(b, a))
    assert 0.0 <= token_f1(a, b) <= 1.0
    assert token_f1(a, a.upper() + "?") == 1.0


@given(st.lists(words, min_size=2, max_size=5, unique_by=lambda c: frozenset(normalise(c).split())), st.data())
def test_an_answer_that_is_a_choice_is_that_choice_under_exact_and_f1(choices: list[str], data) -> None:
    index = data.draw(st.integers(0, len(choices) - 1))
    gold = data.draw(st.integers(0, len(choices) - 1))
    expected = ("gold" if index == gold else "wrong", index)
    assert grade(choices[index].upper() + "!", choices, gold, "exact") == expected
    # Choices with different word sets: only the choice itself has F1 = 1 >= the threshold.
    assert F1_THRESHOLD <= 1.0
    assert grade(choices[index], choices, gold, "f1") == expected


@given(st.lists(words, min_size=2, max_size=5, unique_by=normalise), st.data())
def test_an_answer_that_is_a_choice_gets_that_choices_grade(choices: list[str], data) -> None:
    index = data.draw(st.integers(0, len(choices) - 1))
    gold = data.draw(st.integers(0, len(choices) - 1))
    result, named = grade(choices[index].upper() + "!", choices, gold, "contains")
    # The answer is the choice itself; another choice can be named first only if it is inside it.
    assert named is not None and normalise(choices[named]) in normalise(choices[index])
    assert result == ("gold" if named == gold else "wrong") and result in GRADES


def test_shares_add_up_and_carry_intervals() -> None:
    shares = grade_shares(["gold", "wrong", "wrong", "other"])
    assert [shares[g]["count"] for g in GRADES] == [1, 2, 1]
    assert sum(shares[g]["share"] for g in GRADES) == pytest.approx(1.0)
    assert all(shares[g]["lo"] <= shares[g]["share"] <= shares[g]["hi"] for g in GRADES)


def test_generate_grades_each_task_answer(cli: Callable, tiny_run: Path, monkeypatch) -> None:  # noqa: F811
    """With the decoder's text fixed (a tiny random model says nothing gradable), the rows and the
    printed shares are the grades of those texts against each item's own choices."""
    from likra.data.selection import eval_items
    from likra.generation import run as generation_run

    items = eval_items("arc_easy", "test", 3, 0)
    said = [items[0].choices[items[0].gold], items[1].choices[(items[1].gold + 1) % 4], "no idea"]

    def fixed(self, prompts, settings, **kwargs):
        return [generation_run.Generation(text, [1], "stop") for text in said[: len(prompts)]]

    monkeypatch.setattr(generation_run.Generator, "generate", fixed)
    code, out, err = cli("generate", tiny_run, "--task", "arc_easy", "--limit", "3", "--grade", "--json")
    assert code == 0, err
    rows = json.loads(out)
    assert [r["grade"]["f1"] for r in rows] == [r["grade"]["contains"] for r in rows] == ["gold", "wrong", "other"]
    assert all(r["choices"] == list(i.choices) and r["gold"] == i.gold for r, i in zip(rows, items))
    code, out, err = cli("generate", tiny_run, "--task", "arc_easy", "--limit", "3", "--grade", "--quiet")
    assert code == 0, err
    assert "the gold answer: 0.333 [" in out and "a known wrong choice: 0.333 [" in out and "neither: 0.333 [" in out
    code, _, err = cli("generate", tiny_run, "--prompt", "Q", "--grade")
    assert code == 2 and "grading needs a task's items (--task)" in err
