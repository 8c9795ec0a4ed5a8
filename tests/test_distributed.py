"""Two processes (``accelerate launch``, gloo on CPU) give the results of one.

- ``likra eval`` shards batches over processes: the score tables are byte-identical to one
  process's (each batch is run exactly as one process would run it);
- ``likra train`` splits each batch's examples and sums gradients: adapters within 1e-5 of a
  one-process run with the same global batch;
- a 2-process training killed mid-run (SIGKILL to every process) resumes to the same adapters;
- the run-directory lock refuses a 2-process job while another process holds it, on every rank.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from filelock import FileLock

from fixtures import load_fixture, write_task_file

TIMEOUT = 180
ACCELERATE = Path(sys.executable).with_name("accelerate")
TRAIN = ("--max-questions", "24", "--batch-size", "2", "--save-every", "1", "--dtype", "fp32", "--quiet")

pytestmark = pytest.mark.skipif(not ACCELERATE.exists(), reason="accelerate's launcher is not installed")


def _env() -> dict[str, str]:
    # One thread per process: two processes on two cores, as a user would run them.
    return dict(os.environ, OMP_NUM_THREADS="1", PYTHONUNBUFFERED="1", TQDM_DISABLE="1")


def one_process(*args: str | Path) -> list[str]:
    return [sys.executable, "-m", "likra", *map(str, args)]


def two_processes(*args: str | Path) -> list[str]:
    return [str(ACCELERATE), "launch", "--multi_gpu", "--num_processes", "2", "-m", "likra", *map(str, args)]


def run(command: list[str]) -> subprocess.CompletedProcess:
    done = subprocess.run(command, capture_output=True, text=True, env=_env(), timeout=TIMEOUT)
    return done


@pytest.fixture(scope="module")
def data(tmp_path_factory, tiny_model_dir):
    root = tmp_path_factory.mktemp("distributed")
    items = load_fixture("arc_easy_test") + load_fixture("arc_challenge_test")
    return (
        root,
        str(tiny_model_dir),
        write_task_file(root / "train.jsonl", items[:24]),
        write_task_file(root / "eval.jsonl", items[24:], copies=3),
    )


@pytest.fixture(scope="module")
def one_process_run(data):
    root, model, train_file, _ = data
    done = run(one_process("train", root / "one", "--model", model, "--task", train_file, *TRAIN))
    assert done.returncode == 0, done.stderr
    return root / "one"


def _adapters(run_dir: Path) -> dict[str, object]:
    from safetensors.torch import load_file

    return {
        str(f.relative_to(run_dir)): load_file(str(f)) for f in sorted((run_dir / "checkpoints").rglob("*.safetensors"))
    }


def max_difference(a: Path, b: Path) -> float:
    first, second = _adapters(a), _adapters(b)
    assert list(first) == list(second) and first
    return max(float((x[k].double() - second[name][k].double()).abs().max()) for name, x in first.items() for k in x)


def test_two_process_training_matches_one_process(data, one_process_run):
    root, model, train_file, _ = data
    done = run(two_processes("train", root / "two", "--model", model, "--task", train_file, *TRAIN))
    assert done.returncode == 0, done.stderr
    assert max_difference(one_process_run, root / "two") <= 1e-5
    # the main process alone wrote the log: one line per step
    assert len((root / "two" / "train_log.jsonl").read_text().splitlines()) == 12


def test_two_process_scoring_is_identical_to_one_process(data, one_process_run):
    root, _, _, eval_file = data
    copy = root / "scored-by-two"
    shutil.copytree(one_process_run, copy)
    for target, command in ((one_process_run, one_process), (copy, two_processes)):
        done = run(command("eval", target, "--task", eval_file, "--dtype", "fp32", "--quiet"))
        assert done.returncode == 0, done.stderr
    tables = sorted(p.relative_to(one_process_run) for p in (one_process_run / "eval").rglob("*.jsonl"))
    assert len(tables) == 7  # base, N-0 and the checkpoints N-2, N-4, N-8, N-16, N-24
    for table in tables:
        assert (copy / table).read_bytes() == (one_process_run / table).read_bytes(), table
    stats = json.loads(next((copy / "eval").rglob("score_stats.json")).read_text())
    assert stats["input_tokens"] > 4096  # more than one batch: both processes had work


def kill_every_process_of(marker: str) -> int:
    """SIGKILL every process whose command line mentions ``marker`` (the launcher's workers run
    in process groups of their own); returns how many."""
    killed = 0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            if marker in (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace"):
                os.kill(int(entry.name), signal.SIGKILL)
                killed += 1
        except (OSError, ProcessLookupError):
            continue
    return killed


@pytest.mark.skipif(not Path("/proc").is_dir(), reason="needs /proc to find the worker processes")
def test_two_process_training_killed_resumes_to_the_same_adapters(data, one_process_run):
    root, model, train_file, _ = data
    target = root / "killed"
    command = two_processes("train", target, "--model", model, "--task", train_file, *TRAIN)
    process = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=_env(), start_new_session=True
    )
    log = target / "train_log.jsonl"
    deadline = time.monotonic() + TIMEOUT
    while not (log.exists() and len(log.read_text().splitlines()) >= 2):
        assert process.poll() is None, process.communicate()[1].decode()
        assert time.monotonic() < deadline, "kill point never reached"
        time.sleep(0.002)
    killed = kill_every_process_of(str(target))  # the launcher, torchrun and both workers
    process.communicate(timeout=TIMEOUT)
    assert killed >= 3
    assert not (target / "checkpoints" / "N-24").exists()
    done = run(command)
    assert done.returncode == 0, done.stderr
    assert max_difference(one_process_run, target) <= 1e-5
    steps = [json.loads(line)["step"] for line in log.read_text().splitlines()]
    assert steps == sorted(set(steps)) == list(range(1, 13))


def test_lock_refuses_a_two_process_job_on_every_rank(data, one_process_run):
    root, _, _, eval_file = data
    with FileLock(str(one_process_run / ".lock")):
        done = run(two_processes("eval", one_process_run, "--task", eval_file, "--dtype", "fp32", "--quiet"))
    assert done.returncode != 0
    assert done.stderr.count("another likra process is using this run directory") == 2
