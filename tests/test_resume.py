"""Nothing is lost on interruption: kill the real ``likra`` process (SIGKILL, and once Ctrl-C =
SIGINT) at several points of training and of scoring, re-run the same command, and check that
the result equals an uninterrupted run and that work finished before a kill is not redone.
Also: a second process on the same run directory is refused (lock), and an experiment
(``likra curve``) killed twice finishes with exactly the scores of an uninterrupted one.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

N_QUESTIONS, BATCH, SAVE_EVERY = 24, 2, 3  # 12 steps; checkpoints at steps 1, 2, 4, 8, 12
CHECKPOINTS = ["N-2", "N-4", "N-8", "N-16", "N-24"]  # resume state saved at 1, 2, 3, 4, 6, 8, 9, 12
TIMEOUT = 120
LIMIT = 40  # evaluation items (arc_easy test)


def likra(*args: str | Path) -> list[str]:
    return [sys.executable, "-m", "likra", *map(str, args)]


def _default_sigint() -> None:
    # A terminal's Ctrl-C reaches a process whose SIGINT is not ignored; a test runner started
    # in the background inherits SIGINT ignored (and Python keeps that), so restore the default.
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def start(command: list[str]) -> subprocess.Popen:
    env = dict(os.environ, PYTHONUNBUFFERED="1", TQDM_DISABLE="1")
    return subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, preexec_fn=_default_sigint
    )


def finish(process: subprocess.Popen) -> tuple[int, str, str]:
    out, err = process.communicate(timeout=TIMEOUT)
    return process.returncode, out, err


def interrupt_when(process: subprocess.Popen, ready: Callable[[], bool], sig: int = signal.SIGKILL) -> tuple[int, str]:
    """Send ``sig`` as soon as ``ready()`` holds (polled every 2 ms); returns (exit code, stderr)."""
    deadline = time.monotonic() + TIMEOUT
    while not ready():
        if process.poll() is not None:
            _, err = process.communicate()
            raise AssertionError(f"the process ended before the kill point (rc={process.returncode}):\n{err}")
        assert time.monotonic() < deadline, "kill point never reached"
        time.sleep(0.002)
    process.send_signal(sig)
    _, err = process.communicate(timeout=TIMEOUT)
    return process.returncode, err


def log_lines(run: Path, since: float = 0.0) -> int:
    """Lines in the training log, or 0 while it was last written before ``since``."""
    path = run / "train_log.jsonl"
    try:
        if path.stat().st_mtime < since:
            return 0
        return path.read_text().count("\n")
    except FileNotFoundError:
        return 0


def resume_step(run: Path) -> int:
    path = run / "resume" / "state.json"
    return json.loads(path.read_text())["step"] if path.exists() else 0


def mtimes(paths: list[Path]) -> dict[Path, int]:
    return {p: p.stat().st_mtime_ns for p in paths}


def checkpoint_files(run: Path, names: list[str]) -> list[Path]:
    return [p for name in names for p in sorted((run / "checkpoints" / name).rglob("*")) if p.is_file()]


def head_tensors(folder: Path) -> dict:
    from safetensors.torch import load_file

    return load_file(str(folder / "adapter_model.safetensors"))


# --- training ---------------------------------------------------------------------------------


def test_training_killed_at_several_points_resumes_to_the_same_adapters(tmp_path: Path, tiny_model_dir: Path) -> None:
    from likra.training.loop import TrainSettings
    from likra.training.run import train

    # The uninterrupted reference, same seed and settings (in-process: no second start-up).
    reference = tmp_path / "reference"
    train(
        reference,
        model=str(tiny_model_dir),
        task="arc",
        max_questions=N_QUESTIONS,
        settings=TrainSettings(batch_size=BATCH, save_every=SAVE_EVERY),
        progress=False,
    )

    run = tmp_path / "run"
    command = likra(
        "train",
        run,
        "--model",
        tiny_model_dir,
        "--task",
        "arc",
        "--max-questions",
        N_QUESTIONS,
        "--batch-size",
        BATCH,
        "--save-every",
        SAVE_EVERY,
        "--quiet",
    )
    kept: dict[Path, int] = {}  # files finished before a kill, with their mtimes

    # Kill 1 (SIGKILL): right after the third checkpoint (N-8, step 4) is complete.
    rc, _ = interrupt_when(start(command), lambda: (run / "checkpoints" / "N-8" / "checkpoint.json").exists())
    assert rc == -signal.SIGKILL
    done = [n for n in CHECKPOINTS if (run / "checkpoints" / n / "checkpoint.json").exists()]
    assert done[:3] == ["N-2", "N-4", "N-8"] and "N-24" not in done
    kept.update(mtimes(checkpoint_files(run, done)))
    assert json.loads((run / "manifest.json").read_text())["stages"]["train"]["status"] == "running"

    # Kill 2 (Ctrl-C = SIGINT) after step 6: a clean stop with a message saying how to resume.
    started = time.time()  # (the log still holds the killed process's lines: wait for new ones)
    rc, err = interrupt_when(start(command), lambda: log_lines(run, started) >= 6, signal.SIGINT)
    assert rc == 130, err
    assert "interrupted: finished work is saved; re-run the same command to resume." in err
    assert "Traceback" not in err
    assert not (run / ".lock").exists() or _lock_is_free(run)
    kept.update(mtimes(checkpoint_files(run, [n for n in CHECKPOINTS if (run / "checkpoints" / n).exists()])))

    # Kill 3 (SIGKILL) between two saves of the resume state: after step 10, last save at step 9.
    started = time.time()
    rc, _ = interrupt_when(start(command), lambda: log_lines(run, started) >= 10)
    assert rc == -signal.SIGKILL
    at_kill = log_lines(run)
    assert resume_step(run) == 9 < at_kill < 12  # steps 10..at_kill are lost and will be redone
    log_before = (run / "train_log.jsonl").read_text().splitlines()
    kept.update(mtimes(checkpoint_files(run, [n for n in CHECKPOINTS if (run / "checkpoints" / n).exists()])))

    # Make it worse: a kill in the middle of replacing resume/ (old copy renamed away, new one
    # half written) and a torn last log line. The re-run must repair both.
    (run / "resume").rename(run / ".resume.old")
    (run / ".resume.half").mkdir()
    (run / ".resume.half" / "state.json").write_text('{"st')
    with open(run / "train_log.jsonl", "a") as handle:
        handle.write('{"step": 11, "questio')

    rc, out, err = finish(start(command))
    assert rc == 0, err
    assert "checkpoints in" in out and "N-24" in out

    # Same adapters as the uninterrupted run (within 1e-6), for every checkpoint and both heads.
    assert sorted(p.name for p in (run / "checkpoints").iterdir()) == sorted(CHECKPOINTS)
    for name in CHECKPOINTS:
        for head in ("pos", "neg"):
            ours = head_tensors(run / "checkpoints" / name / head)
            theirs = head_tensors(reference / "checkpoints" / name / head)
            assert ours.keys() == theirs.keys()
            for key in ours:
                assert (ours[key] - theirs[key]).abs().max().item() <= 1e-6, (name, head, key)
    # Work finished before a kill was not redone: those checkpoint files were never rewritten,
    # and the first 9 logged steps are byte-identical (their timings were not re-measured).
    assert mtimes(list(kept)) == kept
    log_after = (run / "train_log.jsonl").read_text().splitlines()
    assert log_after[:9] == log_before[:9]
    assert [json.loads(line)["step"] for line in log_after] == list(range(1, 13))
    manifest = json.loads((run / "manifest.json").read_text())["stages"]["train"]
    assert manifest["status"] == "complete" and manifest["checkpoints"] == CHECKPOINTS
    assert not list(run.glob(".resume.*")) and not list((run / "checkpoints").glob(".*"))

    # A re-run of a finished run does nothing (in-process: the same code path, no start-up).
    assert (
        train(
            run,
            model=str(tiny_model_dir),
            task="arc",
            max_questions=N_QUESTIONS,
            settings=TrainSettings(batch_size=BATCH, save_every=SAVE_EVERY),
            progress=False,
        )
        == CHECKPOINTS
    )
    assert mtimes(list(kept)) == kept


def _lock_is_free(run: Path) -> bool:
    from filelock import FileLock, Timeout

    lock = FileLock(str(run / ".lock"))
    try:
        lock.acquire(timeout=0)
    except Timeout:
        return False
    lock.release()
    return True


# --- scoring ----------------------------------------------------------------------------------


@pytest.fixture
def trained_run(tmp_path: Path, tiny_model_dir: Path) -> Path:
    """A finished run with checkpoints N-2, N-4 (4 questions, batch 2)."""
    from likra.training.loop import TrainSettings
    from likra.training.run import train

    run = tmp_path / "trained"
    train(
        run,
        model=str(tiny_model_dir),
        task="arc",
        max_questions=4,
        settings=TrainSettings(batch_size=2),
        progress=False,
    )
    return run


def test_scoring_killed_at_several_points_resumes_to_equal_scores(tmp_path: Path, trained_run: Path) -> None:
    from likra.score.evaluate import evaluate

    reference, run = tmp_path / "reference", tmp_path / "run"
    shutil.copytree(trained_run, reference)
    shutil.copytree(trained_run, run)
    task = ["--task", "arc_easy", "--split", "test", "--limit", str(LIMIT)]
    evaluate(reference, task="arc_easy", split="test", limit=LIMIT, progress=False)
    folder_name = f"arc_easy-test-0shot-limit{LIMIT}"
    folder = run / "eval" / folder_name
    command = likra("eval", run, *task, "--quiet")
    names = ["N-0", "N-2", "N-4"]

    def check_consistent() -> None:
        """A metrics.json never exists without its complete scores.jsonl."""
        for name in names:
            if (folder / name / "metrics.json").exists():
                rows = (folder / name / "scores.jsonl").read_text().splitlines()
                assert len(rows) == LIMIT and all(json.loads(row) for row in rows)

    # Kill 1: as soon as the base scores and their record (written last) are there.
    rc, _ = interrupt_when(start(command), lambda: (folder / "base_stats.json").exists())
    assert rc == -signal.SIGKILL
    check_consistent()
    kept = mtimes([folder / "base.jsonl", folder / "base_stats.json"])
    # Kill 2: as soon as the first trained checkpoint's metrics are written (N-4's not yet).
    rc, _ = interrupt_when(start(command), lambda: (folder / "N-2" / "metrics.json").exists())
    assert rc == -signal.SIGKILL
    check_consistent()
    assert not (folder / "N-4" / "metrics.json").exists()
    finished = [p for name in names for p in (folder / name).glob("*") if (folder / name / "metrics.json").exists()]
    assert {p.parent.name for p in finished} >= {"N-0", "N-2"}
    kept.update(mtimes(finished))
    assert json.loads((run / "manifest.json").read_text())["stages"].get(f"eval:{folder_name}") is None

    rc, out, err = finish(start(command))
    assert rc == 0, err
    assert mtimes(list(kept)) == kept  # base and finished checkpoints were not scored again
    for name in ["base.jsonl", "base_stats.json"] + [
        f"{n}/{f}" for n in names for f in ("scores.jsonl", "metrics.json")
    ]:
        ours, theirs = folder / name, reference / "eval" / folder_name / name
        if name.endswith(".jsonl"):
            assert [json.loads(r) for r in ours.read_text().splitlines()] == [
                json.loads(r) for r in theirs.read_text().splitlines()
            ], name  # exactly equal
        elif name.endswith("metrics.json"):
            assert json.loads(ours.read_text()) == json.loads(theirs.read_text()), name
    manifest = json.loads((run / "manifest.json").read_text())["stages"][f"eval:{folder_name}"]
    assert manifest["status"] == "complete" and manifest["checkpoints"] == names


# --- lock -------------------------------------------------------------------------------------


def test_second_process_on_the_same_run_directory_is_refused(tmp_path: Path, tiny_model_dir: Path) -> None:
    """One process holds the run directory's lock; a second ``likra`` on it refuses at once."""
    from likra.errors import LikraError
    from likra.score.evaluate import evaluate

    run = tmp_path / "run"
    run.mkdir()
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time\nfrom pathlib import Path\nfrom likra.rundir import locked\n"
            "with locked(Path(sys.argv[1])):\n    print('locked', flush=True)\n    time.sleep(120)\n",
            str(run),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "locked"
        message = (
            f"{run}: another likra process is using this run directory; wait for it to "
            "finish or use a different directory"
        )
        result = subprocess.run(
            likra(
                "train",
                run,
                "--model",
                tiny_model_dir,
                "--task",
                "arc",
                "--max-questions",
                "2",
                "--batch-size",
                "2",
                "--quiet",
            ),
            capture_output=True,
            text=True,
            timeout=TIMEOUT,
        )
        assert result.returncode == 2, result.stderr
        assert f"error: {message}" in result.stderr
        assert sorted(p.name for p in run.iterdir()) == [".lock"]
        # The same for likra eval on a run directory (in-process: this test process is the second).
        (run / "config.json").write_text(json.dumps({"model": str(tiny_model_dir), "lora": {}}))
        with pytest.raises(LikraError) as info:
            evaluate(run, task="arc_easy", split="test", limit=2, progress=False)
        assert str(info.value) == message
        assert sorted(p.name for p in run.iterdir()) == [".lock", "config.json"]
    finally:
        holder.kill()
        holder.wait()


def _experiment_command(exp: Path, data: Path, model: Path) -> list[str]:
    return likra(
        "curve",
        exp,
        "--train-task",
        data / "train.jsonl",
        "--eval-task",
        f"{data / 'eval.jsonl'}:test",
        "--model",
        model,
        "--seeds",
        "1,2",
        "--batch-size",
        "4",
        "--max-questions",
        "16",
        "--negatives",
        "first,other-question",
        "--quiet",
    )


def test_experiment_killed_twice_finishes_with_identical_scores(tmp_path: Path, tiny_model_dir: Path) -> None:
    from fixtures import load_fixture

    items = load_fixture("arc_easy_test") + load_fixture("arc_challenge_test")
    for name, chunk in (("train.jsonl", items[:16]), ("eval.jsonl", items[16:40])):
        (tmp_path / name).write_text(
            "".join(
                json.dumps({"id": it.id, "question": it.question, "choices": list(it.choices), "answer": it.gold})
                + "\n"
                for it in chunk
            )
        )
    reference, exp = tmp_path / "reference", tmp_path / "exp"
    code, _, err = finish(start(_experiment_command(reference, tmp_path, tiny_model_dir)))
    assert code == 0, err

    first_run = exp / "runs" / "train" / "first-s1" / "eval" / "eval-test-0shot"
    # Kill 1: during the first run's evaluation (after its N-8 scores are written).
    interrupt_when(
        start(_experiment_command(exp, tmp_path, tiny_model_dir)), lambda: (first_run / "N-8" / "metrics.json").exists()
    )
    done_before = {p: p.stat().st_mtime_ns for p in exp.rglob("scores.jsonl")}
    assert done_before, "nothing was finished before the first kill"
    # Kill 2: while the second seed trains.
    interrupt_when(
        start(_experiment_command(exp, tmp_path, tiny_model_dir)),
        lambda: (exp / "runs" / "train" / "first-s2" / "train_log.jsonl").exists(),
    )
    code, out, err = finish(start(_experiment_command(exp, tmp_path, tiny_model_dir)))
    assert code == 0, err
    # Work finished before the kills was not redone.
    assert {p: p.stat().st_mtime_ns for p in done_before} == done_before
    # Every score table equals the uninterrupted experiment's, exactly.
    ours = sorted(p.relative_to(exp) for p in exp.rglob("scores.jsonl"))
    theirs = sorted(p.relative_to(reference) for p in reference.rglob("scores.jsonl"))
    assert ours == theirs and len(ours) > 10
    for relative in ours:
        assert (exp / relative).read_text() == (reference / relative).read_text(), relative
    assert json.loads((exp / "report" / "findings.json").read_text()) == json.loads(
        (reference / "report" / "findings.json").read_text()
    )


def test_base_scores_are_recorded_by_content_and_old_path_records_still_resume(tmp_path):
    """hardest/easiest runs record their ranking scores as a sha256 (a moved experiment resumes);
    a run made before, which recorded the path, keeps that record while the content is the same."""
    from likra.errors import LikraError
    from likra.training.run import _base_scores_record

    scores = tmp_path / "base.jsonl"
    scores.write_text('{"id": "q1", "choices": [{"base": -1.0}, {"base": -2.0}]}\n')
    copy = tmp_path / "copy.jsonl"
    copy.write_text(scores.read_text())
    run = tmp_path / "run"
    run.mkdir()
    new = _base_scores_record(run, copy)
    assert new == _base_scores_record(run, scores) and new.startswith("sha256:")
    (run / "config.json").write_text(json.dumps({"base_scores": str(scores)}))  # an older run's record
    assert _base_scores_record(run, copy) == str(scores)  # same content: the old record stands
    copy.write_text('{"id": "q1", "choices": [{"base": -3.0}, {"base": -2.0}]}\n')
    assert _base_scores_record(run, copy) not in (str(scores), new)  # other scores: a different run
    with pytest.raises(LikraError, match="does not exist"):
        _base_scores_record(run, tmp_path / "missing.jsonl")
