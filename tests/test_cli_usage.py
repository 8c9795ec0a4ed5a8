"""Command-line usage errors are one line and exit 2, through the real ``likra`` script.

typer >= 0.2x raises its own vendored copy of click's exceptions, which a handler catching plain
``click`` misses: every usage error then printed a traceback and exited 1. These run the
installed console script in subprocesses, once each, as a user would.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

import likra

SCRIPT = Path(sys.executable).with_name("likra")

CASES = [
    (["trian"], "No such command 'trian'. Did you mean 'train'?"),
    (["train", "runs/x", "--bogus", "1"], "No such option: --bogus"),
    (["eval"], "Missing argument 'target'"),
    (["train", "runs/x", "--max-questions", "many"], "Invalid value for '--max-questions'"),
    (["eval", "runs/x", "--dtype", "fp16"], "unknown dtype 'fp16'"),
    (["reproduce", "--score-dtype", "half"], "unknown dtype 'half'"),
    (["reproduce", "--profile", "pool", "--only-seeds", "45"], "seed 45 is not one of profile pool's seeds"),
    (["reproduce", "--profile", "open-ended", "--only-seeds", "42"], "profile open-ended cannot run in parts"),
]


def run_likra(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([str(SCRIPT), *args], capture_output=True, text=True, cwd=cwd, timeout=120)


@pytest.mark.parametrize(("args", "message"), CASES, ids=[" ".join(a) for a, _ in CASES])
def test_usage_error_is_one_line_and_exit_2(args: list[str], message: str, tmp_path: Path) -> None:
    done = run_likra(*args, cwd=tmp_path)
    assert done.returncode == 2, done
    assert "Traceback" not in done.stderr + done.stdout
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0], done.stderr
    assert not list(tmp_path.iterdir())  # nothing written by a refused command


def test_bare_likra_prints_the_help(tmp_path: Path) -> None:
    done = run_likra(cwd=tmp_path)
    assert done.returncode in (0, 2) and "Traceback" not in done.stderr + done.stdout
    assert "reproduce" in done.stdout + done.stderr and "Usage" in done.stdout + done.stderr


def test_version(tmp_path: Path) -> None:
    done = run_likra("--version", cwd=tmp_path)
    assert done.returncode == 0 and done.stdout.strip() == f"likra {likra.__version__}"
