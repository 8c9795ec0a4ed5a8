"""``--config FILE`` and ``--print-config``: a command's options kept in a file, flags on top.

The round trip must make the same run: ``likra train A --print-config > c.yaml`` then ``likra
train B --config c.yaml`` gives B a config.json byte-identical to A's.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from fixtures import load_fixture, write_task_file

# Each command with the arguments it needs (a folder or target that is never touched).
COMMANDS = {
    "train": ["train", "RUN"],
    "eval": ["eval", "RUN"],
    "generate": ["generate", "RUN", "--prompt", "Q"],
    "reproduce": ["reproduce", "EXP"],
    "curve": ["curve", "EXP"],
}


@pytest.fixture(scope="module")
def train_file(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("config")
    return write_task_file(root / "train.jsonl", load_fixture("arc_easy_test")[:8])


def _args(command: str, tmp_path: Path) -> list[str]:
    return [str(tmp_path / a) if a in ("RUN", "EXP") else a for a in COMMANDS[command]]


@pytest.mark.parametrize("command", list(COMMANDS))
def test_print_config_then_config_prints_the_same_and_runs_nothing(cli: Callable, tmp_path: Path, command: str) -> None:
    code, printed, err = cli(*_args(command, tmp_path), "--print-config")
    assert code == 0, err
    settings = yaml.safe_load(printed)
    assert isinstance(settings, dict) and "quiet" in settings and "config" not in settings
    (tmp_path / "c.yaml").write_text(printed)
    code, again, err = cli(*_args(command, tmp_path), "--config", tmp_path / "c.yaml", "--print-config")
    assert code == 0, err
    assert again == printed
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c.yaml"]  # nothing else was made


def test_the_round_trip_makes_the_same_run(cli: Callable, tmp_path: Path, tiny_model_dir: Path, train_file) -> None:
    options = ["--model", tiny_model_dir, "--task", train_file, "--max-questions", "8", "--batch-size", "4", "--quiet"]
    code, printed, err = cli("train", tmp_path / "a", *options, "--lora-r", "4", "--print-config")
    assert code == 0, err
    settings = yaml.safe_load(printed)
    assert settings["lora_r"] == 4 and settings["lr"] == 1e-3 and settings["dtype"] in ("fp32", "bf16")
    (tmp_path / "train.yaml").write_text(printed)
    assert cli("train", tmp_path / "a", *options, "--lora-r", "4")[0] == 0
    assert cli("train", tmp_path / "b", "--config", tmp_path / "train.yaml")[0] == 0
    assert (tmp_path / "b" / "config.json").read_bytes() == (tmp_path / "a" / "config.json").read_bytes()


def test_the_eval_round_trip_scores_the_same(cli: Callable, tmp_path: Path, tiny_model_dir: Path, train_file) -> None:
    trained = ["--model", tiny_model_dir, "--task", train_file, "--max-questions", "8", "--batch-size", "4"]
    assert cli("train", tmp_path / "a", *trained, "--quiet")[0] == 0
    shutil.copytree(tmp_path / "a", tmp_path / "b")  # the same run, not yet evaluated
    options = ["--task", train_file, "--limit", "6", "--checkpoint", "N-0,N-8"]
    code, printed, err = cli("eval", tmp_path / "a", *options, "--print-config")
    assert code == 0, err
    assert yaml.safe_load(printed)["dtype"] == "fp32"  # auto, resolved: scoring is fp32 everywhere
    (tmp_path / "eval.yaml").write_text(printed)
    code, flags, err = cli("eval", tmp_path / "a", *options, "--json", "--quiet")
    assert code == 0, err
    code, from_file, err = cli("eval", tmp_path / "b", "--config", tmp_path / "eval.yaml", "--json", "--quiet")
    assert code == 0, err
    assert json.loads(from_file) == json.loads(flags) and len(json.loads(flags)) == 2
    tables = sorted(p.relative_to(tmp_path / "a") for p in (tmp_path / "a" / "eval").rglob("metrics.json"))
    assert tables and all((tmp_path / "a" / t).read_bytes() == (tmp_path / "b" / t).read_bytes() for t in tables)


def test_flags_override_the_file_and_toml_works(cli: Callable, tmp_path: Path) -> None:
    (tmp_path / "c.yaml").write_text("lr: 0.25\nmethod: dpo\n")
    code, printed, _ = cli("train", tmp_path / "r", "--config", tmp_path / "c.yaml", "--lr", "0.5", "--print-config")
    assert code == 0
    assert yaml.safe_load(printed)["lr"] == 0.5 and yaml.safe_load(printed)["method"] == "dpo"
    (tmp_path / "c.toml").write_text('method = "kto"\nbatch-size = 8\n')
    code, printed, _ = cli("train", tmp_path / "r", "--config", tmp_path / "c.toml", "--print-config")
    assert code == 0
    assert yaml.safe_load(printed)["method"] == "kto" and yaml.safe_load(printed)["batch_size"] == 8


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("lr: 0.1\nbogus: 3\n", "c.yaml field 'bogus': not an option of `likra train`; options: model, task,"),
        ("lr: [\n", "c.yaml: not a valid YAML file (while parsing a flow node"),
        ("- lr\n", "c.yaml: expected option: value pairs at the top level"),
    ],
)
def test_a_bad_config_file_is_one_line_and_writes_nothing(
    cli: Callable, tmp_path: Path, text: str, message: str
) -> None:
    (tmp_path / "c.yaml").write_text(text)
    code, _, err = cli("train", tmp_path / "run", "--config", tmp_path / "c.yaml")
    assert code == 2 and "Traceback" not in err
    lines = [line for line in err.splitlines() if line.startswith("error: ")]
    assert len(lines) == 1 and message in lines[0], err
    assert not (tmp_path / "run").exists()


def test_print_profile_shows_the_resolved_profile_that_profile_json_will_hold(cli: Callable, tmp_path: Path) -> None:
    """--print-config shows the options as typed (a profile name, overrides); --print-profile shows
    what they resolve to, every setting, and writes nothing."""
    from likra.experiments.profiles import get_profile, parse_seeds, profile_from_dict

    code, printed, err = cli("reproduce", tmp_path / "exp", "--profile", "quick", "--seeds", "7,8", "--print-profile")
    assert code == 0, err
    shown = profile_from_dict(json.loads(printed))
    assert shown == get_profile("quick", seeds=parse_seeds("7,8"))
    assert shown.seeds == (7, 8) and shown.studies[0].eval_sets[0].limit == 50
    assert not (tmp_path / "exp").exists()
