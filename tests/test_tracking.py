"""``--report-to tensorboard``: what was written is read back with TensorBoard's own reader."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from fixtures import load_fixture, write_task_file


def read_events(folder: Path) -> dict[str, list[tuple[int, float]]]:
    """Every scalar tag in the event files under ``folder``: [(step, value), ...]."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(folder))
    events.Reload()
    return {tag: [(e.step, e.value) for e in events.Scalars(tag)] for tag in events.Tags()["scalars"]}


def test_training_and_evaluation_are_logged_to_tensorboard(cli: Callable, tmp_path: Path, tiny_model_dir: Path) -> None:
    items = load_fixture("arc_easy_test")
    train_file = write_task_file(tmp_path / "train.jsonl", items[:8])
    eval_file = write_task_file(tmp_path / "eval.jsonl", items[8:12])
    run = tmp_path / "run"
    options = ["--model", tiny_model_dir, "--task", train_file, "--max-questions", "8", "--batch-size", "4", "--quiet"]
    code, _, err = cli("train", run, *options, "--report-to", "tensorboard")
    assert code == 0, err
    log = [json.loads(line) for line in (run / "train_log.jsonl").read_text().splitlines()]
    scalars = read_events(run / "tensorboard")
    # Every training-log number at its step (each head's loss among them), and the learning rate.
    for name in ("pos_loss", "neg_loss", "examples_per_s"):
        assert scalars[f"train/{name}"] == [(row["step"], pytest.approx(row[name])) for row in log]
    assert scalars["train/lr"] == [(row["step"], pytest.approx(1e-3)) for row in log]
    code, out, err = cli("eval", run, "--task", eval_file, "--quiet", "--json", "--report-to", "tensorboard")
    assert code == 0, err
    results = json.loads(out)
    scalars = read_events(run / "tensorboard")
    likra = scalars["eval/eval-test-0shot/likra/acc_norm"]
    assert likra == [(int(r["checkpoint"][2:]), pytest.approx(r["modes"]["likra"]["acc_norm"])) for r in results]


def test_a_dpo_run_is_logged_too(cli: Callable, tmp_path: Path, tiny_model_dir: Path) -> None:
    train_file = write_task_file(tmp_path / "train.jsonl", load_fixture("arc_easy_test")[:8])
    run = tmp_path / "dpo"
    options = ["--model", tiny_model_dir, "--task", train_file, "--max-questions", "8", "--batch-size", "4"]
    code, _, err = cli("train", run, *options, "--method", "dpo", "--quiet", "--report-to", "tensorboard")
    assert code == 0, err
    log = [json.loads(line) for line in (run / "train_log.jsonl").read_text().splitlines()]
    scalars = read_events(run / "tensorboard")
    assert scalars["train/dpo_loss"] == [(row["step"], pytest.approx(row["dpo_loss"])) for row in log]
    assert len(scalars["train/lr"]) == len(log)


def test_report_to_none_writes_nothing_and_an_unknown_destination_is_one_line(cli: Callable, tmp_path: Path) -> None:
    code, _, err = cli("train", tmp_path / "run", "--report-to", "wandb")
    assert code == 2 and "Traceback" not in err
    assert "field 'report_to': --report-to must be one of none, tensorboard, got 'wandb'" in err
    assert not (tmp_path / "run").exists()
