"""Fault injection: damaged files, operating-system errors, a busy folder, leftovers of a kill.

Every case gets one line, never a traceback: ``error: FILE[:LINE]: ...`` with the documented exit
code (2: a damaged record, a busy folder; 74: the operating system refused), or one
``warning: ...`` line where likra repairs the damage itself (a score table or the resume state is
computed again). Each test also checks what is on disk afterwards: unchanged, or recomputed to
exactly what an undamaged folder holds. docs/errors.md and docs/reliability.md list every case.

The CLI runs in-process (``cli`` fixture, tests/conftest.py) on the tiny random model; a trained
run and a one-seed experiment are made once per module and copied for each test.
"""

from __future__ import annotations

import errno
import json
import os
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from fixtures import load_fixture, write_task_file

EVAL = "eval/eval-test-0shot"


def one_line(err: str, kind: str = "error") -> str:
    """The single ``error: ...`` (or ``warning: ...``) line of ``err``; no traceback."""
    assert "Traceback" not in err, err
    lines = [line for line in err.splitlines() if line.startswith(f"{kind}: ")]
    assert len(lines) == 1, err
    return lines[0]


def snapshot(folder: Path) -> dict[str, bytes]:
    """Every file under ``folder`` (the lock excepted) with its bytes."""
    return {
        str(p.relative_to(folder)): p.read_bytes()
        for p in sorted(folder.rglob("*"))
        if p.is_file() and p.name != ".lock"
    }


def truncate(path: Path, size: int | None = None) -> None:
    """Cut ``path`` to ``size`` bytes (default: half), as a kill or a full disk would."""
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2 if size is None else size])


@pytest.fixture(scope="module")
def made(tmp_path_factory: pytest.TempPathFactory, tiny_model_dir: Path) -> dict[str, Path]:
    """A run (8 training questions, batch 4: checkpoints N-4 and N-8) evaluated on 8 items, and a
    one-seed experiment of the same data, with their task files and model."""
    from likra.api import curve
    from likra.score.evaluate import evaluate
    from likra.training.loop import TrainSettings
    from likra.training.run import train

    root = tmp_path_factory.mktemp("faults")
    items = load_fixture("arc_easy_test") + load_fixture("arc_challenge_test")
    train_file = write_task_file(root / "train.jsonl", items[:8])
    eval_file = write_task_file(root / "eval.jsonl", items[8:16])
    run = root / "run"
    settings = TrainSettings(batch_size=4, save_every=1)
    train(run, model=str(tiny_model_dir), task=str(train_file), max_questions=8, settings=settings, progress=False)
    evaluate(run, task=str(eval_file), split="test", progress=False)
    exp = root / "exp"
    curve(
        exp,
        str(train_file),
        [f"{eval_file}:test"],
        max_questions=4,
        model=str(tiny_model_dir),
        seeds=(42,),
        batch_size=4,
        progress=False,
    )
    return {"run": run, "exp": exp, "train": train_file, "test": eval_file, "model": tiny_model_dir}


def copy(made: dict[str, Path], tmp_path: Path, what: str = "run") -> Path:
    target = tmp_path / what
    shutil.copytree(made[what], target)
    return target


def eval_args(made: dict[str, Path], run: Path) -> list:
    return ["eval", run, "--task", made["test"], "--quiet"]


def train_args(made: dict[str, Path], run: Path) -> list:
    return [
        "train",
        run,
        "--model",
        made["model"],
        "--task",
        made["train"],
        "--max-questions",
        "8",
        "--batch-size",
        "4",
        "--save-every",
        "1",
        "--quiet",
    ]


def curve_args(made: dict[str, Path], exp: Path) -> list:
    return [
        "curve",
        exp,
        "--model",
        made["model"],
        "--train-task",
        made["train"],
        "--eval-task",
        f"{made['test']}:test",
        "--max-questions",
        "4",
        "--seeds",
        "42",
        "--batch-size",
        "4",
        "--quiet",
    ]


# --- 1. damaged files: a score table is computed again, a record is refused ---------------------


@pytest.mark.parametrize(
    ("damage", "problem"),
    [
        ("torn", "invalid JSON: Expecting value at column 8"),
        ("empty", "empty"),
        ("short", "7 rows for 8 items"),
    ],
)
def test_damaged_base_scores_are_scored_again(cli: Callable, made, tmp_path: Path, damage: str, problem: str) -> None:
    run = copy(made, tmp_path)
    path = run / EVAL / "base.jsonl"
    good = path.read_text()
    if damage == "torn":  # cut in the middle of line 2
        path.write_text(good.splitlines(keepends=True)[0] + '{"id": ')
        where = f"{path}:2"
    elif damage == "empty":
        truncate(path, 0)
        where = str(path)
    else:
        path.write_text("".join(good.splitlines(keepends=True)[:-1]))
        where = str(path)
    code, out, err = cli(*eval_args(made, run))
    assert code == 0, err
    assert one_line(err, "warning") == f"warning: {where}: damaged score table ({problem}); scoring base scores again"
    assert path.read_text() == good  # recomputed: exactly the undamaged table, all 8 rows
    assert "n=8" in out


def test_torn_checkpoint_scores_are_scored_again_by_eval(cli: Callable, made, tmp_path: Path) -> None:
    run = copy(made, tmp_path)
    path = run / EVAL / "N-8" / "scores.jsonl"
    good = path.read_text()
    truncate(path, len(good) - 10)  # the last line torn; metrics.json still says "done"
    code, _, err = cli(*eval_args(made, run))
    assert code == 0, err
    warning = one_line(err, "warning")
    assert warning.startswith(f"warning: {path}:8: damaged score table (invalid JSON: ")
    assert warning.endswith("); scoring N-8 again")
    assert path.read_text() == good


def test_torn_scores_in_report_are_named_and_the_experiment_command_repairs_them(
    cli: Callable, made, tmp_path: Path
) -> None:
    exp = copy(made, tmp_path, "exp")
    path = next(exp.glob("runs/*/*/eval/*/N-4/scores.jsonl"))
    good = path.read_text()
    truncate(path, len(good.splitlines(keepends=True)[0]) + 1)  # line 2 is '{'
    report = snapshot(exp / "report")
    code, _, err = cli("report", exp)
    assert code == 2
    assert one_line(err) == (
        f"error: {path}:2: damaged file (invalid JSON: Expecting property name enclosed in double quotes at "
        "column 2): a score table; re-run the command that made it (likra eval, or likra reproduce or curve "
        "with the same options for an experiment) to compute it again"
    )
    assert snapshot(exp / "report") == report  # no report from partial data
    # What the message says to do: the complete experiment's command scores the table again.
    code, _, err = cli(*curve_args(made, exp))
    assert code == 0, err
    assert one_line(err, "warning").startswith(f"warning: {path}:2: damaged score table (invalid JSON: ")
    assert path.read_text() == good


@pytest.mark.parametrize("command", ["train", "eval"])
@pytest.mark.parametrize("record", ["manifest.json", "config.json"])
def test_damaged_run_record_is_refused_and_kept(cli: Callable, made, tmp_path: Path, record: str, command: str) -> None:
    run = copy(made, tmp_path)
    path = run / record
    truncate(path, 1)  # "{"
    before = snapshot(run)
    code, _, err = cli(*(train_args if command == "train" else eval_args)(made, run))
    assert code == 2
    hint = {
        "manifest.json": "it records which stages are complete; restore it from a copy, or delete it and re-run "
        "the command that made this folder (finished work is found again and kept)",
        "config.json": "it records the run's settings and cannot be rebuilt; restore it from a copy, or use a "
        "new run folder",
    }[record]
    assert one_line(err) == (
        f"error: {path}:1: damaged file (invalid JSON: Expecting property name enclosed in double quotes at "
        f"column 2): {hint}"
    )
    assert snapshot(run) == before  # never discarded, never rewritten


@pytest.mark.parametrize("record", ["profile.json", "manifest.json"])
def test_damaged_experiment_record_is_refused_by_report(cli: Callable, made, tmp_path: Path, record: str) -> None:
    exp = copy(made, tmp_path, "exp")
    path = exp / record
    path.write_text("")
    before = snapshot(exp)
    code, _, err = cli("report", exp)
    assert code == 2
    assert one_line(err).startswith(f"error: {path}: damaged file (empty): it records ")
    assert snapshot(exp) == before


@pytest.mark.parametrize(
    ("damaged", "problem"),
    [
        ("resume/state.json", "invalid JSON: Expecting property name enclosed in double quotes at column 2"),
        ("resume/optimizer-pos.safetensors", "SafetensorError: Error while deserializing header"),
        ("resume/neg/adapter_model.safetensors", "SafetensorError: Error while deserializing header"),
    ],
)
def test_damaged_resume_state_trains_again_from_step_0(
    cli: Callable, made, tmp_path: Path, damaged: str, problem: str
) -> None:
    run = copy(made, tmp_path)
    # As after a kill between the last step and the end: N-8 not saved, training not complete.
    shutil.rmtree(run / "checkpoints" / "N-8")
    manifest = json.loads((run / "manifest.json").read_text())
    manifest["stages"]["train"]["status"] = "running"
    (run / "manifest.json").write_text(json.dumps(manifest))
    truncate(run / damaged, 1)
    kept = (run / "checkpoints" / "N-4").stat().st_mtime_ns
    code, _, err = cli(*train_args(made, run))
    assert code == 0, err
    warning = one_line(err, "warning")
    where = f"{run / damaged}" + (":1" if damaged.endswith(".json") else "")
    assert warning.startswith(f"warning: {where}: damaged resume state ({problem}")
    assert warning.endswith("); training this run again from step 0 (complete checkpoints are kept)")
    # Trained again from step 0: the same N-8 as the uninterrupted run; N-4 was not rewritten.
    for head in ("pos", "neg"):
        name = f"checkpoints/N-8/{head}/adapter_model.safetensors"
        assert (run / name).read_bytes() == (made["run"] / name).read_bytes()
    assert (run / "checkpoints" / "N-4").stat().st_mtime_ns == kept
    assert (run / "resume" / "state.json").read_text() == (made["run"] / "resume" / "state.json").read_text()


def test_a_short_unconditional_table_is_scored_again_when_the_experiment_resumes(
    cli: Callable, made, tmp_path: Path
) -> None:
    """Valid JSON but fewer rows than items (a disk that filled up between lines): the resumed
    experiment scores it again instead of reporting from it."""
    exp = copy(made, tmp_path, "exp")
    path = next(exp.glob("base/*/uncond.jsonl"))
    good = path.read_text()
    path.write_text(good.splitlines(keepends=True)[0])
    manifest = json.loads((exp / "manifest.json").read_text())
    manifest["stages"]["experiment"]["status"] = "running"  # as after a kill
    (exp / "manifest.json").write_text(json.dumps(manifest))
    code, _, err = cli(*curve_args(made, exp))
    assert code == 0, err
    rows = len(good.splitlines())
    assert one_line(err, "warning") == (
        f"warning: {path}: damaged score table (1 rows for {rows} items); scoring the unconditional scores again"
    )
    assert path.read_text() == good


def test_planner_counts_a_damaged_resume_state_as_no_steps_done(made, tmp_path: Path) -> None:
    """The experiment planner prices the work left from the resume state; a damaged one is what
    the training loop repairs (trains again from step 0), so the planner counts 0, not a refusal."""
    from likra.experiments.planner import steps_done
    from likra.layout import RunLayout

    run = copy(made, tmp_path)
    assert steps_done(RunLayout(run)) == 2
    truncate(run / "resume" / "state.json", 3)
    assert steps_done(RunLayout(run)) == 0
    (run / "resume" / "state.json").write_text('{"step": "two"}')
    assert steps_done(RunLayout(run)) == 0


# --- 2. operating-system errors: one line naming the path, exit 74 -------------------------------


def test_parent_that_is_a_file(cli: Callable, made, tmp_path: Path) -> None:
    blocker = tmp_path / "somefile"
    blocker.write_text("x")
    code, _, err = cli(*train_args(made, blocker / "run"))
    assert code == 74
    assert one_line(err) == f"error: {blocker / 'run'}: Not a directory: {blocker} is a file; choose another path"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["somefile"] and blocker.read_text() == "x"


def test_read_only_output_folder(cli: Callable, made, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A read-only file system, simulated under ``tmp_path/ro`` at the system calls (root ignores
    permission bits); a run made there before is evaluated nowhere and left as it was."""
    read_only = tmp_path / "ro"
    run = read_only / "run"
    shutil.copytree(made["run"], run, ignore=shutil.ignore_patterns("eval"))
    before = snapshot(read_only)
    real_open, real_mkdir = os.open, os.mkdir

    def refuse(path) -> None:
        if str(os.fspath(path)).startswith(str(read_only)):
            raise OSError(errno.EROFS, os.strerror(errno.EROFS), os.fspath(path))

    def fake_open(path, flags, *args, **kwargs):
        if flags & (os.O_WRONLY | os.O_RDWR | os.O_CREAT):
            refuse(path)
        return real_open(path, flags, *args, **kwargs)

    def fake_mkdir(path, *args, **kwargs):
        refuse(path)
        return real_mkdir(path, *args, **kwargs)

    monkeypatch.setattr(os, "open", fake_open)
    monkeypatch.setattr(os, "mkdir", fake_mkdir)
    strerror = os.strerror(errno.EROFS)
    code, _, err = cli(*eval_args(made, run))
    assert code == 74
    assert one_line(err) == f"error: {run}: {strerror}; use a folder on a writable disk"
    code, _, err = cli(*train_args(made, read_only / "new"))
    assert code == 74
    assert one_line(err) == f"error: {read_only / 'new'}: {strerror}; use a folder on a writable disk"
    monkeypatch.undo()
    assert snapshot(read_only) == before


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() == 0, reason="root writes into read-only folders")
def test_read_only_folder_by_permissions(cli: Callable, made, tmp_path: Path) -> None:
    folder = tmp_path / "locked-down"
    folder.mkdir()
    folder.chmod(0o555)
    try:
        code, _, err = cli(*train_args(made, folder / "run"))
    finally:
        folder.chmod(0o755)
    assert code == 74
    assert one_line(err).startswith(f"error: {folder / 'run'}: Permission denied; check its permissions")


def test_no_space_left(cli: Callable, made, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import likra.io

    run = copy(made, tmp_path)
    shutil.rmtree(run / "eval")
    before = snapshot(run)

    def full(fd: int, text: str) -> None:
        os.close(fd)
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(likra.io, "write_synced", full)
    code, _, err = cli(*eval_args(made, run))
    assert code == 74
    base = run / EVAL / "base.jsonl"
    assert one_line(err) == (
        f"error: {base}: {os.strerror(errno.ENOSPC)}; free some space and re-run the same command "
        "(finished work is kept)"
    )
    assert not list(run.rglob("*.tmp"))  # no half-written file left
    assert {k: v for k, v in snapshot(run).items() if not k.startswith("eval")} == before
    monkeypatch.undo()  # space freed: the same command finishes with the undamaged folder's scores
    code, _, err = cli(*eval_args(made, run))
    assert code == 0, err
    for name in ("base.jsonl", "N-4/scores.jsonl", "N-8/scores.jsonl"):
        assert (run / EVAL / name).read_text() == (made["run"] / EVAL / name).read_text()


# --- 3. the experiment's lock: no report from a folder being written ------------------------------


def test_report_waits_for_the_experiment_lock(cli: Callable, made, tmp_path: Path) -> None:
    from filelock import FileLock

    exp = copy(made, tmp_path, "exp")
    before = snapshot(exp / "report")
    lock = FileLock(str(exp / ".lock"))
    lock.acquire(timeout=0)  # as `likra reproduce` / `likra curve` holds it while it writes
    try:
        code, _, err = cli("report", exp)
    finally:
        lock.release()
    assert code == 2
    assert one_line(err) == (
        f"error: {exp}: in use by another likra process (a reproduce or curve writing into it); "
        "run likra report again when it has finished"
    )
    assert snapshot(exp / "report") == before
    code, _, err = cli("report", exp)
    assert code == 0, err


# --- 4. leftovers of an interrupted write ------------------------------------------------------


def test_leftover_temporary_files_are_ignored_and_cleaned(cli: Callable, made, tmp_path: Path) -> None:
    run = copy(made, tmp_path)
    folder = run / EVAL / "N-8"
    # A kill while metrics.json was written: its temporary file, no metrics.json.
    (folder / "metrics.json").unlink()
    (folder / ".metrics.json.k1ll3d.tmp").write_text('{"task": "torn')
    (run / EVAL / ".base.jsonl.k1ll3d.tmp").write_text('{"id": "torn')
    code, _, err = cli(*eval_args(made, run))
    assert code == 0 and "Traceback" not in err, err
    assert not (folder / ".metrics.json.k1ll3d.tmp").exists()  # removed by the next write
    assert (folder / "metrics.json").read_text() == (made["run"] / EVAL / "N-8" / "metrics.json").read_text()
    # base.jsonl was read, not written: its leftover is ignored (and removed at its next write).
    assert (run / EVAL / "base.jsonl").read_text() == (made["run"] / EVAL / "base.jsonl").read_text()


def test_checkpoint_without_its_info_file_is_skipped_with_a_warning(cli: Callable, made, tmp_path: Path) -> None:
    run = copy(made, tmp_path)
    shutil.rmtree(run / "eval")
    (run / "checkpoints" / "N-4" / "checkpoint.json").unlink()
    expected = (
        f"warning: {run / 'checkpoints' / 'N-4'}: incomplete checkpoint (no checkpoint.json: an interrupted save?); "
        "skipped"
    )
    code, out, err = cli(*eval_args(made, run))
    assert code == 0, err
    assert one_line(err, "warning") == expected
    assert sorted(p.name for p in (run / EVAL).iterdir() if p.is_dir()) == ["N-0", "N-8"]
    code, out, err = cli(*train_args(made, run))
    assert code == 0, err
    assert one_line(err, "warning") == expected
    assert out.strip().endswith("N-8")  # the run's checkpoints: N-4 is not one
