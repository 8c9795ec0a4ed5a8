"""What DPO's micro-batches cost and save: peak memory and time of one DPO run, whole steps
against steps split within the training token budget (gradient accumulation).

Each setting trains in its own child process (``likra.training.run.train``, fp32, the real
packaged model and benchmark), the settings in turn A B A B ..., so drift hits both alike. Peak
RSS is the child's own (``getrusage``); training seconds are the sum of its logged steps (the
model load and TRL's reference pass are in the wall time only). Writes JSON
(``benchmarks/results/preference_memory_<task>_<machine>_<date>.json``).

    python benchmarks/preference_memory.py --task hellaswag --questions 32 --batch-size 16
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

WHOLE_STEP = 10**9  # a token budget no step reaches: TRL runs each step in one pass, as before


def train_once(args: argparse.Namespace) -> None:
    """The child: one DPO run with the given token budget."""
    from likra.training.loop import TrainSettings
    from likra.training.run import train

    settings = TrainSettings(lr=args.lr, batch_size=args.batch_size, batch_tokens=args.batch_tokens)
    train(
        args.run_dir,
        model=args.model,
        task=args.task,
        max_questions=args.questions,
        settings=settings,
        method=args.method,
        dtype="fp32",
        progress=False,
    )


def measure(args: argparse.Namespace, budget: int) -> dict:
    run_dir = Path(tempfile.mkdtemp(prefix="likra-preference-")) / "run"
    command = [
        sys.executable, __file__, "--child", "--run-dir", str(run_dir), "--batch-tokens", str(budget),
        "--model", args.model, "--task", args.task, "--method", args.method,
        "--questions", str(args.questions), "--batch-size", str(args.batch_size), "--lr", str(args.lr),
    ]  # fmt: skip
    started = time.perf_counter()
    child = subprocess.Popen(command, stdout=subprocess.DEVNULL)
    _, status, usage = os.wait4(child.pid, 0)
    wall = time.perf_counter() - started
    if status != 0:
        raise SystemExit(f"the {budget}-token run failed (status {status})")
    log = [json.loads(line) for line in (run_dir / "train_log.jsonl").read_text().splitlines() if line.strip()]
    return {
        "batch_tokens": budget,
        "wall_s": round(wall, 1),
        "train_s": round(sum(r["seconds"] for r in log), 1),
        "peak_rss_mb": round(usage.ru_maxrss / 1024, 1),  # Linux: kilobytes
        "losses": [r[f"{args.method}_loss"] for r in log],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="smollm2-135m")
    parser.add_argument("--task", default="hellaswag")
    parser.add_argument("--method", default="dpo")
    parser.add_argument("--questions", type=int, default=32)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--lr", type=float, default=1e-2)
    parser.add_argument("--batch-tokens", type=int, default=1024, help="the split setting's budget")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--out", type=Path)
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--run-dir", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        train_once(args)
        return
    from likra.model.precision import result_path, write_result

    runs: dict[str, list[dict]] = {"whole steps": [], "micro-batches": []}
    for _ in range(args.repeats):
        runs["whole steps"].append(measure(args, WHOLE_STEP))
        runs["micro-batches"].append(measure(args, args.batch_tokens))
    summary = {}
    for name, measured in runs.items():
        summary[name] = {
            key: statistics.median(r[key] for r in measured) for key in ("wall_s", "train_s", "peak_rss_mb")
        }
        print(f"{name:>14}: " + ", ".join(f"{k} {v}" for k, v in summary[name].items()))
    ratio = [m["train_s"] / w["train_s"] for w, m in zip(runs["whole steps"], runs["micro-batches"], strict=True)]
    print(f"training time, micro-batches / whole steps, pair by pair: {', '.join(f'{r:.2f}' for r in ratio)}")
    result = {
        "command": " ".join(sys.argv),
        "settings": {k: v for k, v in vars(args).items() if k not in ("out", "child", "run_dir")},
        "summary": summary,
        "train_time_ratio_pairs": [round(r, 3) for r in ratio],
        "runs": runs,
    }
    out = args.out or result_path(f"preference_memory_{args.task}", Path(__file__).parent / "results")
    write_result(result, out)


if __name__ == "__main__":
    main()
