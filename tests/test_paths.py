"""Paths are paths, names are names (issue 26, "Paths and names get mixed up").

- A model or run argument that names a local path is looked for locally only: a mistyped run
  folder (``likra eval runs/minee``) is one line at once, never ~50 s of Hub retries.
- A Hub id is loaded from the local Hugging Face cache without network when it is there; else an
  unreachable Hub (or HF_HUB_OFFLINE) is one line at once.
- A failed command leaves nothing it created behind: no empty output folder, no ``.lock``; a
  folder that was there before is kept.
- ``--task`` naming an existing file of another format, or a folder, says so (not "unknown task").

Cases that need the Hub's environment variables (read when huggingface_hub is imported) run the
real ``likra`` script in a subprocess; the others use the in-process ``cli`` fixture. No test
reaches the network: the Hub is ``HF_ENDPOINT=http://127.0.0.1:9`` (connection refused at once)
and its cache an empty or hand-made folder.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from likra.data.jsonl import looks_like_path
from likra.errors import LikraError
from likra.model.resolve import is_hub_id, looks_local
from likra.rundir import locked

SCRIPT = Path(sys.executable).with_name("likra")
NO_HUB = "http://127.0.0.1:9"  # nothing listens on the discard port: refused at once, offline or not
FORMATS = "expected a .jsonl file (one JSON object per line) or a task name (see 'likra data list')"
NOT_CACHED = "not in the local Hugging Face cache, and "
ADVICE = "; download it where the Hub can be reached, or pass a local model folder"


def run_likra(*args: str | Path, cwd: Path, **env: str) -> subprocess.CompletedProcess:
    environment = {k: v for k, v in os.environ.items() if k not in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE")}
    environment.update(HF_ENDPOINT=NO_HUB, HF_HUB_CACHE=str(cwd / ".hf-cache"), **env)
    return subprocess.run(
        [str(SCRIPT), *map(str, args)], capture_output=True, text=True, cwd=cwd, env=environment, timeout=300
    )


def one_error_line(done: subprocess.CompletedProcess | tuple[int, str, str]) -> str:
    """The single line a refused command prints (exit 2, no traceback, nothing else on stderr)."""
    code, out, err = (done.returncode, done.stdout, done.stderr) if hasattr(done, "returncode") else done
    assert code == 2, (code, out, err)
    assert "Traceback" not in out + err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    return lines[0]


def tree(folder: Path) -> set[str]:
    """Every path under ``folder`` (files and folders), relative; the test's own files included."""
    return {str(p.relative_to(folder)) for p in folder.rglob("*")}


def write_task(folder: Path) -> Path:
    path = folder / "data.jsonl"
    path.write_text(
        json.dumps({"question": "Which gas do plants take in?", "choices": ["oxygen", "water"], "answer": 0})
    )
    return path


# --- a mistyped run folder is looked for locally only -------------------------------------------


@pytest.mark.parametrize("runs_exists", [False, True], ids=["no-runs-folder", "runs-folder-exists"])
def test_mistyped_run_folder_is_one_line_and_leaves_nothing(tmp_path: Path, runs_exists: bool) -> None:
    """Was: taken for a Hub id, ~50 s of retries, a connection error over two lines, and
    ``runs/eval-minee/.lock`` left behind."""
    if runs_exists:
        (tmp_path / "runs").mkdir()
    before = tree(tmp_path)
    done = run_likra("eval", "runs/minee", "--quiet", cwd=tmp_path)
    assert one_error_line(done) == "error: runs/minee: no such run folder or model directory"
    assert tree(tmp_path) == before  # no runs/eval-minee, no .lock; an existing runs/ is kept


def test_mistyped_run_folder_returns_at_once(cli: Callable, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """In-process, so the interpreter's start does not count: a Hub attempt would take ~50 s."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "runs").mkdir()
    started = time.perf_counter()
    result = cli("eval", "runs/minee", "--quiet")
    seconds = time.perf_counter() - started
    assert one_error_line(result) == "error: runs/minee: no such run folder or model directory"
    assert seconds < 5, seconds
    assert tree(tmp_path) == {"runs"}


@pytest.mark.parametrize(
    ("target", "message"),
    [
        ("./minee", "./minee: no such run folder or model directory"),
        ("runs/minee/", "runs/minee/: no such run folder or model directory"),
        ("~/likra-no-such-run-folder", "~/likra-no-such-run-folder: no such run folder or model directory"),
        ("minee.gguf", "minee.gguf: model file does not exist"),
        ("emptydir", "emptydir: neither a run folder nor a model directory: config.json is missing"),
        ("emptydir/minee", "emptydir/minee: no such run folder or model directory"),
    ],
)
def test_local_looking_targets_never_reach_the_hub(
    cli: Callable, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, target: str, message: str
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "emptydir").mkdir()
    started = time.perf_counter()
    assert one_error_line(cli("eval", target, "--quiet")) == f"error: {message}"
    assert time.perf_counter() - started < 5
    assert tree(tmp_path) == {"emptydir"}


def test_mistyped_model_folder_in_train_leaves_no_run_folder(
    cli: Callable, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "runs").mkdir()
    data = write_task(tmp_path)
    result = cli("train", "runs/new", "--model", "runs/minee", "--task", data, "--quiet")
    assert one_error_line(result) == "error: runs/minee: model folder does not exist"
    assert tree(tmp_path) == {"runs", "data.jsonl"}


# --- Hub ids: the local cache first, one short attempt, nothing left behind ----------------------


def test_hub_id_with_unreachable_hub_is_one_line_and_leaves_nothing(tmp_path: Path) -> None:
    """Was: ~50 s of retries, two lines, ``runs/eval-gpt2/.lock`` (and a run folder with a
    ``.lock`` after ``likra train RUN --model openai-community/gpt2``)."""
    write_task(tmp_path)
    before = tree(tmp_path)
    expected = f"error: openai-community/gpt2: {NOT_CACHED}the Hub ({NO_HUB}) cannot be reached (ConnectError: "
    done = run_likra("eval", "openai-community/gpt2", "--task", "data.jsonl", "--quiet", cwd=tmp_path)
    line = one_error_line(done)
    assert line.startswith(expected) and line.endswith(ADVICE), line
    done = run_likra(
        "train", "runs/x", "--model", "openai-community/gpt2", "--task", "data.jsonl", "--quiet", cwd=tmp_path
    )
    line = one_error_line(done)
    assert line.startswith(expected) and line.endswith(ADVICE), line
    assert tree(tmp_path) == before  # no runs/, runs/eval-gpt2, runs/x or .lock


def test_hub_id_under_hf_hub_offline_keeps_an_existing_out_folder_as_it_was(tmp_path: Path) -> None:
    write_task(tmp_path)
    (tmp_path / "out").mkdir()
    before = tree(tmp_path)
    done = run_likra(
        "eval",
        "openai-community/gpt2",
        "--task",
        "data.jsonl",
        "--out",
        "out",
        "--quiet",
        cwd=tmp_path,
        HF_HUB_OFFLINE="1",
    )
    assert one_error_line(done) == f"error: openai-community/gpt2: {NOT_CACHED}HF_HUB_OFFLINE is set{ADVICE}"
    assert tree(tmp_path) == before  # out/ kept (it was there), nothing added to it


def test_hub_id_in_the_local_cache_loads_without_network(tmp_path: Path, tiny_model_dir: Path) -> None:
    """A model downloaded once (here: a hand-made cache entry of the tiny model) loads while the
    Hub cannot be reached."""
    repo = tmp_path / ".hf-cache" / "models--likra-test--tiny"
    commit = "0" * 40
    shutil.copytree(tiny_model_dir, repo / "snapshots" / commit)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(commit)
    write_task(tmp_path)
    done = run_likra(
        "eval", "likra-test/tiny", "--task", "data.jsonl", "--out", "out", "--json", "--quiet", cwd=tmp_path
    )
    assert done.returncode == 0, done.stderr
    metrics = json.loads(done.stdout)
    assert metrics["model"] == "likra-test/tiny" and metrics["n_items"] == 1
    assert (tmp_path / "out" / "eval").is_dir()


# --- --task: a file of another format, or a folder ------------------------------------------------


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("train.csv", f"train.csv: not a task file (likra does not read .csv files): {FORMATS}"),
        ("array.json", f"array.json: not a task file (likra does not read .json files): {FORMATS}"),
        ("data.txt", f"data.txt: not a task file (likra does not read .txt files): {FORMATS}"),
        ("notes", f"notes: not a task file (likra does not read files without the .jsonl suffix): {FORMATS}"),
        ("folder", f"folder: a folder, not a task file: {FORMATS}"),
        (
            "missing.csv",
            "missing.csv: file not found (a task argument that looks like a path must be an existing .jsonl file)",
        ),
    ],
)
@pytest.mark.parametrize("command", ["eval", "train"])
def test_task_that_is_a_file_of_another_format(
    cli: Callable,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    tiny_model_dir: Path,
    command: str,
    name: str,
    message: str,
) -> None:
    """Was: ``unknown task 'train.csv'. Valid: arc, arc_challenge, ... (54 more).``"""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "train.csv").write_text("question,choices,answer\nq,a|b,0\n")
    (tmp_path / "array.json").write_text(json.dumps([{"question": "q", "choices": ["a", "b"], "answer": 0}]))
    (tmp_path / "data.txt").write_text("q? a b\n")
    (tmp_path / "notes").write_text('{"question": "q", "choices": ["a", "b"], "answer": 0}\n')
    (tmp_path / "folder").mkdir()
    before = tree(tmp_path)
    target = ["out"] if command == "train" else [str(tiny_model_dir), "--out", "out"]
    model = ["--model", str(tiny_model_dir)] if command == "train" else []
    result = cli(command, *target, *model, "--task", name, "--quiet")
    assert one_error_line(result) == f"error: {message}"
    assert tree(tmp_path) == before


def test_unknown_plain_task_name_keeps_its_message(
    cli: Callable, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, tiny_model_dir: Path
) -> None:
    monkeypatch.chdir(tmp_path)
    line = one_error_line(cli("eval", str(tiny_model_dir), "--task", "arcc", "--out", "out", "--quiet"))
    assert line.startswith("error: unknown task 'arcc'. Did you mean 'arc'? Valid: arc, arc_challenge, ")
    assert not list(tmp_path.iterdir())


# --- the rules themselves --------------------------------------------------------------------------


def test_what_counts_as_a_local_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "openai-community").mkdir()
    (tmp_path / "mymodel").mkdir()
    local = [
        "./x",
        "/x",
        "~/x",
        "x/",
        "runs/minee",
        "mymodel",
        "openai-community/gpt2",
        "a/model.gguf",
        "a/b.json",
        "a\\b",
    ]
    hub = ["org/name", "Qwen/Qwen2.5-0.5B", "HuggingFaceTB/SmolLM2-135M"]
    assert [name for name in local if not looks_local(name)] == []
    assert [name for name in hub if looks_local(name)] == []
    assert all(is_hub_id(name) for name in hub) and not is_hub_id("openai-community/gpt2")
    assert not is_hub_id("smollm2-135m") and not is_hub_id("minee")


def test_what_counts_as_a_task_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "arc").mkdir()  # a folder called like a task: the task name wins
    (tmp_path / "mydata").write_text("")
    assert not looks_like_path("arc") and not looks_like_path("arcc")
    assert all(looks_like_path(name) for name in ["mydata", "x.jsonl", "x.csv", "d/x", "d\\x"])


def test_a_failed_locked_block_removes_only_what_it_made(tmp_path: Path) -> None:
    new = tmp_path / "runs" / "eval-x"
    with pytest.raises(LikraError), locked(new):
        raise LikraError("model failed to load")
    assert not (tmp_path / "runs").exists()  # both folders were made by this block

    existing = tmp_path / "existing"
    existing.mkdir()
    with pytest.raises(KeyboardInterrupt), locked(existing / "run"):
        raise KeyboardInterrupt
    assert tree(tmp_path) == {"existing"}

    with pytest.raises(LikraError), locked(existing):
        raise LikraError("x")
    assert tree(tmp_path) == {"existing"}  # kept, and its .lock (made here) removed

    written = tmp_path / "written"
    with pytest.raises(LikraError), locked(written):
        (written / "config.json").write_text("{}")
        raise LikraError("failed after writing")
    assert tree(written) == {"config.json"}  # work on disk keeps its folder

    with locked(tmp_path / "ok"):
        pass
    assert (tmp_path / "ok" / ".lock").exists()  # a finished block keeps its folder and lock, as before
