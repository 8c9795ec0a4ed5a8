"""``--report-to``: what was written is read back with each destination's own library.

TensorBoard through its ``EventAccumulator``; W&B through its protobuf ``Record`` (its offline
run's ``.wandb`` file); MLflow through ``MlflowClient`` on the local store. Each reader returns
every scalar as ``{name: [(step, value), ...]}`` and the config as flat text (``likra.tracking.flatten``),
so one test checks all three the same way.
"""

from __future__ import annotations

import json
import struct
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from fixtures import load_fixture, write_task_file
from likra.tracking import flatten

Scalars = dict[str, list[tuple[int, float]]]


@pytest.fixture(autouse=True)
def _offline_trackers(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """W&B stays quiet and keeps its own settings and caches out of the home folder; MLflow's
    file store is not allowed beforehand, so likra must allow it itself."""
    monkeypatch.delenv("MLFLOW_ALLOW_FILE_STORE", raising=False)
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_SILENT", "true")
    for name in ("WANDB_CONFIG_DIR", "WANDB_CACHE_DIR", "WANDB_DATA_DIR"):
        monkeypatch.setenv(name, str(tmp_path / "wandb-home"))


def read_tensorboard(run: Path) -> tuple[Scalars, dict[str, str]]:
    """Every scalar tag in the event files under ``RUN/tensorboard``, and the config text."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(run / "tensorboard"))
    events.Reload()
    scalars = {tag: [(e.step, e.value) for e in events.Scalars(tag)] for tag in events.Tags()["scalars"]}
    (text,) = [e.tensor_proto.string_val[0].decode() for e in events.Tensors("config/text_summary")]
    return scalars, flatten(json.loads(text.strip("`\n")))


def wandb_records(path: Path) -> Iterator[Any]:
    """The records of an offline run's ``.wandb`` file, decoded by W&B's own protobuf ``Record``.

    W&B 0.30 dropped its Python reader of this file, so the framing (LevelDB's log format: 32 KiB
    blocks of records, each with a 7-byte header of crc, length and kind) is undone here."""
    from wandb.proto.wandb_internal_pb2 import Record

    block, header, full, last = 32768, 7, 1, 4
    data = path.read_bytes()
    assert data[:4] == b":W&B"
    at, payload = header, b""
    while at + header <= len(data):
        if block - at % block < header:  # too little room left for a header: the block is padded
            at += block - at % block
            continue
        _, length, kind = struct.unpack("<IHB", data[at : at + header])
        payload += data[at + header : at + header + length]
        at += header + length
        if kind in (full, last):  # a record split across blocks ends with LAST
            record = Record()
            record.ParseFromString(payload)
            yield record
            payload = b""


def read_wandb(run: Path) -> tuple[Scalars, dict[str, str]]:
    """Scalars (each at its section's ``train/step`` or ``eval/step``) and config of the offline
    runs under ``RUN/wandb``, which must all be one W&B run (train, then eval, reopen it)."""
    scalars: Scalars = {}
    config: dict[str, Any] = {}
    ids = set()
    for path in sorted((run / "wandb").glob("offline-run-*/run-*.wandb")):
        for record in wandb_records(path):
            kind = record.WhichOneof("record_type")
            if kind == "run":
                ids.add(record.run.run_id)
                assert record.run.project == "likra" and record.run.display_name == run.name
            if kind in ("run", "config"):
                updates = record.run.config.update if kind == "run" else record.config.update
                config |= {item.key: json.loads(item.value_json) for item in updates if item.key != "_wandb"}
            if kind == "history":
                row = {
                    item.key or "/".join(item.nested_key): json.loads(item.value_json) for item in record.history.item
                }
                for name, value in row.items():
                    section = name.split("/", 1)[0]
                    if f"{section}/step" in row and not name.endswith("/step"):
                        scalars.setdefault(name, []).append((row[f"{section}/step"], value))
    assert len(ids) == 1, ids
    return scalars, flatten(config)


def read_mlflow(run: Path) -> tuple[Scalars, dict[str, str]]:
    """Every metric's history and the params of the one MLflow run in the local store ``RUN/mlruns``."""
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=(run / "mlruns").resolve().as_uri())
    experiment = client.get_experiment_by_name("likra")
    (found,) = client.search_runs([experiment.experiment_id])  # train, then eval, reopen it
    assert found.info.run_name == run.name and found.info.status == "FINISHED"
    metrics = found.data.metrics
    history = {
        name: [(m.step, m.value) for m in client.get_metric_history(found.info.run_id, name)] for name in metrics
    }
    return history, found.data.params


READERS: dict[str, Callable[[Path], tuple[Scalars, dict[str, str]]]] = {
    "tensorboard": read_tensorboard,
    "wandb": read_wandb,
    "mlflow": read_mlflow,
}


@pytest.mark.parametrize("report_to", list(READERS))
def test_training_and_evaluation_are_logged(
    report_to: str, cli: Callable, tmp_path: Path, tiny_model_dir: Path
) -> None:
    items = load_fixture("arc_easy_test")
    train_file = write_task_file(tmp_path / "train.jsonl", items[:8])
    eval_file = write_task_file(tmp_path / "eval.jsonl", items[8:12])
    run = tmp_path / "run"
    options = ["--model", tiny_model_dir, "--task", train_file, "--max-questions", "8", "--batch-size", "4", "--quiet"]
    code, _, err = cli("train", run, *options, "--report-to", report_to)
    assert code == 0, err
    log = [json.loads(line) for line in (run / "train_log.jsonl").read_text().splitlines()]
    scalars, config = READERS[report_to](run)
    # Every training-log number at its step (each head's loss among them), and the learning rate.
    for name in ("pos_loss", "neg_loss", "examples_per_s", "tokens_per_s"):
        assert scalars[f"train/{name}"] == [(row["step"], pytest.approx(row[name])) for row in log]
    assert scalars["train/lr"] == [(row["step"], pytest.approx(1e-3)) for row in log]
    written = json.loads((run / "config.json").read_text())
    del written["versions"]  # added as config.json is written, not part of the run's settings
    assert config == flatten(written) and config["train.lr"] == "0.001"
    code, out, err = cli("eval", run, "--task", eval_file, "--quiet", "--json", "--report-to", report_to)
    assert code == 0, err
    results = json.loads(out)
    scalars, _ = READERS[report_to](run)  # train and eval in one run
    assert len(scalars["train/pos_loss"]) == len(log)
    assert "likra" in results[0]["modes"]
    for mode in results[0]["modes"]:  # every scoring mode (likra, base, ...), acc and acc_norm
        for metric in ("acc", "acc_norm"):
            logged = scalars[f"eval/eval-test-0shot/{mode}/{metric}"]
            assert logged == [(int(r["checkpoint"][2:]), pytest.approx(r["modes"][mode][metric])) for r in results]


def test_the_callers_own_wandb_run_stays_open(tmp_path: Path, tiny_model_dir: Path) -> None:
    """likra called from a script that logs to W&B itself: the script's run is neither finished
    nor replaced, and likra's numbers go to likra's own run."""
    import wandb

    from likra.api import train
    from likra.training.loop import TrainSettings

    train_file = write_task_file(tmp_path / "train.jsonl", load_fixture("arc_easy_test")[:8])
    own = wandb.init(mode="offline", dir=tmp_path, project="mine")
    try:
        run = tmp_path / "run"
        train(
            run,
            str(tiny_model_dir),
            str(train_file),
            max_questions=8,
            settings=TrainSettings(batch_size=4),
            report_to="wandb",
            progress=False,
        )
        assert wandb.run is own
        own.log({"after_likra": 1.0})  # raises on a finished run
    finally:
        own.finish()
        wandb.teardown()
    scalars, _ = read_wandb(run)
    assert len(scalars["train/pos_loss"]) == 2 and "after_likra" not in scalars


@pytest.mark.parametrize("report_to", list(READERS))
def test_a_dpo_run_is_logged_too(report_to: str, cli: Callable, tmp_path: Path, tiny_model_dir: Path) -> None:
    train_file = write_task_file(tmp_path / "train.jsonl", load_fixture("arc_easy_test")[:8])
    run = tmp_path / "dpo"
    options = ["--model", tiny_model_dir, "--task", train_file, "--max-questions", "8", "--batch-size", "4"]
    code, _, err = cli("train", run, *options, "--method", "dpo", "--quiet", "--report-to", report_to)
    assert code == 0, err
    log = [json.loads(line) for line in (run / "train_log.jsonl").read_text().splitlines()]
    scalars, _ = READERS[report_to](run)
    assert scalars["train/dpo_loss"] == [(row["step"], pytest.approx(row["dpo_loss"])) for row in log]
    assert len(scalars["train/lr"]) == len(log)


def test_report_to_none_writes_nothing_and_an_unknown_destination_is_one_line(cli: Callable, tmp_path: Path) -> None:
    code, _, err = cli("train", tmp_path / "run", "--report-to", "comet_ml")
    assert code == 2 and "Traceback" not in err
    assert "field 'report_to': --report-to must be one of none, tensorboard, wandb, mlflow, got 'comet_ml'" in err
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("report_to", list(READERS))
def test_a_missing_package_names_its_extra(
    report_to: str, cli: Callable, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, report_to, None)  # as if it were not installed
    code, _, err = cli("train", tmp_path / "run", "--report-to", report_to)
    assert code == 2 and "Traceback" not in err
    assert f"--report-to {report_to} needs the {report_to} package: pip install 'likra[{report_to}]'" in err
    assert not (tmp_path / "run").exists()  # refused before anything was made
