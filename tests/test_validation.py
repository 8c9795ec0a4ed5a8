"""Validate before writing: a command refused for a bad setting leaves its run or experiment
folder as it was (no profile.json, no config.json), so the corrected command is accepted and not
refused as "made with different settings". docs/errors.md lists each case with its message.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from likra.errors import LikraError
from test_errors import assert_no_results, expect_cli_error

# A curve that trains and scores in about two seconds on the tiny model.
CURVE_OK = {
    "--train-task": "arc",
    "--eval-task": "arc_challenge:test:2",
    "--max-questions": "2",
    "--batch-size": "2",
    "--seeds": "1",
}


def curve_args(exp: Path, model: Path, **changed: str) -> list[str | Path]:
    options = {**CURVE_OK, "--model": str(model), **changed}
    return ["curve", exp, *[part for pair in options.items() for part in pair], "--quiet"]


@pytest.mark.parametrize(
    ("option", "value", "words"),
    [
        ("--batch-size", "0", ("field 'batch_size'", "batch size must be >= 1, got 0")),
        ("--lr", "-1", ("field 'lr'", "learning rate must be a positive number, got -1.0")),
        ("--lr", "nan", ("field 'lr'", "learning rate must be a positive number, got nan")),
        ("--lr", "inf", ("field 'lr'", "learning rate must be a positive number, got inf")),
        ("--eval-task", "arc_challenge:test:0", ("field 'limit'", "limit must be >= 1, got 0")),
        (
            "--eval-task",
            "arc_challenge:test:x",
            ("field 'eval_task'", "TASK[:SPLIT[:LIMIT]]", "'arc_challenge:test:x'"),
        ),
        ("--points", "foo", ("field 'points'", "expected 'checkpoints' or 'subsets', got 'foo'")),
        ("--seeds", "", ("field 'seeds'", "expected comma-separated integer seeds such as 42,43,44, got ''")),
        ("--seeds", "42,abc", ("field 'seeds'", "got '42,abc'")),
        ("--seeds", "1,1", ("field 'seeds'", "seed 1 is given twice")),
        ("--max-questions", "0", ("field 'max_questions'", "max_questions must be >= 1, got 0")),
        ("--negatives", "first,hardst", ("unknown negative strategy 'hardst'", "Did you mean 'hardest'?")),
        ("--train-task", "arcc", ("unknown task 'arcc'",)),
        ("--eval-task", "arcc:test", ("unknown task 'arcc'",)),
        ("--eval-task", "arc_challenge:tst", ("unknown split of task 'arc_challenge' 'tst'",)),
        ("--model", "/no/such/model", ("/no/such/model: model folder does not exist",)),
    ],
)
def test_curve_checks_every_setting_before_writing(
    cli: Callable, tmp_path: Path, tiny_model_dir: Path, option: str, value: str, words: tuple[str, ...]
) -> None:
    exp = tmp_path / "exp"
    expect_cli_error(cli, *curve_args(exp, tiny_model_dir, **{option: value}), words=words)
    assert_no_results(exp)  # no profile.json: the corrected command is not "a different profile"
    code, _, err = cli(*curve_args(exp, tiny_model_dir))
    assert code == 0, err
    assert (exp / "profile.json").exists()


@pytest.mark.parametrize(
    ("option", "value", "words"),
    [
        ("--points", "foo", ("field 'points'", "expected 'checkpoints' or 'subsets', got 'foo'")),
        ("--seeds", "", ("field 'seeds'", "expected comma-separated integer seeds")),
        ("--seeds", "42,x", ("field 'seeds'", "got '42,x'")),
        ("--lr", "nan", ("field 'lr'", "learning rate must be a positive number, got nan")),
    ],
)
def test_reproduce_checks_its_overrides_before_writing(
    cli: Callable, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, option: str, value: str, words: tuple[str, ...]
) -> None:
    """Refused while the command line is read; the accepted command is only handed on, never run."""
    import likra.api

    started = []
    monkeypatch.setattr(likra.api, "reproduce", lambda exp_dir, profile, **_: started.append(profile) or exp_dir)
    monkeypatch.setattr("likra.cli.experiments._print_findings", lambda exp_dir: None)
    exp = tmp_path / "exp"
    expect_cli_error(cli, "reproduce", exp, option, value, "--quiet", words=words)
    assert not started and not exp.exists()
    code, _, err = cli("reproduce", exp, "--points", "subsets", "--seeds", "42,43", "--quiet")
    assert code == 0, err
    assert started[0].points == "subsets" and started[0].seeds == (42, 43)


def test_profile_settings_are_checked_when_it_is_built() -> None:
    from likra.experiments.profiles import EvalSet, curve_profile, get_profile

    with pytest.raises(LikraError, match="batch size must be >= 1"):
        get_profile("default", batch_size=0)
    with pytest.raises(LikraError, match="expected at least one seed"):
        curve_profile("arc", (EvalSet("arc_challenge", "test"),), 2, ["first"], seeds=())
    with pytest.raises(LikraError, match="limit must be >= 1"):
        EvalSet("arc_challenge", "test", -3)


def mixed_choices_jsonl(tmp_path: Path) -> Path:
    """Two questions with 3 and 4 choices: ``--negatives all`` gives them 2 and 3 negatives."""
    data = tmp_path / "mixed.jsonl"
    rows = [
        {"question": "Which gas do plants take in?", "choices": ["oxygen", "carbon dioxide", "water"], "answer": 1},
        {"question": "What melts ice?", "choices": ["heat", "cold", "salt water", "darkness"], "answer": 0},
    ]
    data.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return data


@pytest.mark.parametrize(
    ("bad", "good", "words"),
    [
        (
            ["--negatives", "all"],
            ["--negatives", "first"],
            ("field 'negatives'", "dpo batches whole questions", "(this strategy gives [2, 3])"),
        ),
        (
            ["--lora-targets", "no_such_module"],
            [],
            ("field 'lora_targets'", "cannot attach LoRA heads", "no_such_module"),
        ),
    ],
)
def test_dpo_run_checks_its_settings_before_the_config(
    cli: Callable, tmp_path: Path, tiny_model_dir: Path, bad: list[str], good: list[str], words: tuple[str, ...]
) -> None:
    run = tmp_path / "run"
    common = ["train", run, "--model", tiny_model_dir, "--task", mixed_choices_jsonl(tmp_path), "--method", "dpo"]
    common += ["--batch-size", "2", "--quiet"]
    expect_cli_error(cli, *common, *bad, words=words)
    assert_no_results(run)  # no config.json: the corrected command is not "different settings"
    code, _, err = cli(*common, *good)
    assert code == 0, err
    assert (run / "checkpoints" / "N-2" / "dpo").is_dir()
