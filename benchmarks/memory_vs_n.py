"""Does training memory grow with N? Resident memory of one ``likra train`` run, step by step.

Runs ``likra train`` in a child process on the first N questions of a pool and samples the
child's resident set size (RSS) every ``--every`` seconds, pairing each sample with the number of
optimiser steps already logged in ``train_log.jsonl``. Prints the peak RSS per doubling of N and
writes JSON (``benchmarks/results/memory_vs_n_<machine>_<date>.json``); a flat profile means a long run (the full profile, N = 6615) needs no more memory than
a short one.

    python benchmarks/memory_vs_n.py --max-questions 2048 --batch-size 32
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil

from likra.model.precision import result_path, write_result


def logged_steps(run_dir: Path) -> int:
    log = run_dir / "train_log.jsonl"
    return sum(1 for line in log.read_text().splitlines() if line.strip()) if log.exists() else 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="smollm2-135m")
    parser.add_argument("--task", default="arc")
    parser.add_argument("--max-questions", type=int, default=2048)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--every", type=float, default=2.0, help="seconds between RSS samples")
    parser.add_argument("--out", type=Path, help="default: benchmarks/results/memory_vs_n_<machine>_<date>.json")
    args = parser.parse_args()
    run_dir = Path(tempfile.mkdtemp(prefix="likra-memory-")) / "run"
    command = [
        sys.executable, "-m", "likra", "train", str(run_dir), "--model", args.model, "--task", args.task,
        "--max-questions", str(args.max_questions), "--batch-size", str(args.batch_size), "--quiet",
    ]  # fmt: skip
    started = time.perf_counter()
    child = subprocess.Popen(command, stdout=subprocess.DEVNULL)
    process = psutil.Process(child.pid)
    samples = []  # (seconds, steps logged, RSS MB)
    while child.poll() is None:
        try:
            rss = process.memory_info().rss / 1e6
        except psutil.NoSuchProcess:
            break
        samples.append((round(time.perf_counter() - started, 1), logged_steps(run_dir), round(rss, 1)))
        time.sleep(args.every)
    if child.returncode != 0:
        raise SystemExit(f"likra train failed with exit status {child.returncode}")
    # Peak RSS while the steps of each doubling of N were running (step k trains questions
    # up to k * batch): N <= batch, <= 2 batch, <= 4 batch, ...
    # After the last step the run saves its final checkpoint: that belongs to the last doubling.
    total_steps = -(-args.max_questions // args.batch_size)
    buckets: dict[int, float] = {}
    for _, steps, rss in samples:
        if steps == 0:
            continue  # loading the model, before the first step
        n = args.batch_size
        while n < min(steps + 1, total_steps) * args.batch_size:
            n *= 2
        buckets[n] = max(buckets.get(n, 0.0), rss)
    print(f"{args.model}, batch {args.batch_size}, up to N = {args.max_questions}; peak RSS per doubling of N")
    for n, rss in sorted(buckets.items()):
        print(f"  N <= {n:>5}: {rss:7.1f} MB")
    result = {
        "command": " ".join(command[2:]),
        "seconds": round(time.perf_counter() - started, 1),
        "peak_rss_mb_by_n": {str(n): rss for n, rss in sorted(buckets.items())},
        "samples": samples,
    }
    write_result(result, args.out or result_path("memory_vs_n", Path(__file__).resolve().parent / "results"), indent=1)


if __name__ == "__main__":
    main()
