"""What a DPO run's memory settings cost and save: peak memory and time of one DPO run under
two settings, in turn.

- ``--compare micro-batches``: whole steps against steps split within the training token budget
  (gradient accumulation).
- ``--compare lean-trl``: TRL's own CPU path against likra's adjustments of it
  (``likra.training.preference.lean_trl_on_cpu``: completion positions only, narrower vocabulary
  tiles, a model fingerprint without copies), both in micro-batches.
- ``--compare lm-head-columns``: likra's path with TRL's 32768-column LM-head tiles against
  ``CPU_LM_HEAD_COLUMNS``.

Each setting trains in its own child process (``likra.training.run.train``, the real packaged
model and benchmark), the settings in turn A B A B ..., so drift hits both alike. Peak RSS is the
child's own (``getrusage``); training seconds are the sum of its logged steps (the model load and
TRL's reference pass are in the wall time only). Writes JSON
(``benchmarks/results/preference_memory_<task>[_<compare>]_<machine>_<date>.json``).

    python benchmarks/preference_memory.py --task hellaswag --questions 32 --batch-size 16
    python benchmarks/preference_memory.py --compare lean-trl --dtype bf16 --task hellaswag --questions 16
"""

from __future__ import annotations

import argparse
import contextlib
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
    from likra.training import preference
    from likra.training.loop import TrainSettings
    from likra.training.run import train

    if args.trl_own:
        preference.lean_trl_on_cpu = contextlib.nullcontext
    if args.columns:
        preference.CPU_LM_HEAD_COLUMNS = args.columns

    settings = TrainSettings(lr=args.lr, batch_size=args.batch_size, batch_tokens=args.batch_tokens)
    train(
        args.run_dir,
        model=args.model,
        task=args.task,
        max_questions=args.questions,
        settings=settings,
        method=args.method,
        dtype=args.dtype,
        progress=False,
    )


def measure(args: argparse.Namespace, budget: int, trl_own: bool = False, columns: int = 0) -> dict:
    run_dir = Path(tempfile.mkdtemp(prefix="likra-preference-")) / "run"
    command = [
        sys.executable, __file__, "--child", "--run-dir", str(run_dir), "--batch-tokens", str(budget),
        "--model", args.model, "--task", args.task, "--method", args.method, "--dtype", args.dtype,
        "--questions", str(args.questions), "--batch-size", str(args.batch_size), "--lr", str(args.lr),
    ] + (["--trl-own"] if trl_own else []) + (["--columns", str(columns)] if columns else [])  # fmt: skip
    started = time.perf_counter()
    child = subprocess.Popen(command, stdout=subprocess.DEVNULL)
    _, status, usage = os.wait4(child.pid, 0)
    wall = time.perf_counter() - started
    if status != 0:
        raise SystemExit(f"the {budget}-token run failed (status {status})")
    log = [json.loads(line) for line in (run_dir / "train_log.jsonl").read_text().splitlines() if line.strip()]
    return {
        "batch_tokens": budget,
        "trl_own_path": trl_own,
        "lm_head_columns": columns or None,  # None: likra's CPU_LM_HEAD_COLUMNS
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
    parser.add_argument("--dtype", default="fp32", choices=["fp32", "bf16"], help="the frozen base's precision")
    parser.add_argument("--compare", default="micro-batches", choices=["micro-batches", "lean-trl", "lm-head-columns"])
    parser.add_argument("--batch-tokens", type=int, default=1024, help="the split setting's budget")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--out", type=Path)
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--run-dir", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--trl-own", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--columns", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        train_once(args)
        return
    from likra.model.precision import result_path, write_result

    # (name, token budget, TRL's own path, LM-head columns; 0: likra's): the first setting is the
    # baseline the time ratio divides by.
    budget = args.batch_tokens
    settings = {
        "micro-batches": [("whole steps", WHOLE_STEP, False, 0), ("micro-batches", budget, False, 0)],
        "lean-trl": [("TRL's own path", budget, True, 0), ("lean TRL", budget, False, 0)],
        "lm-head-columns": [("32768 columns", budget, False, 32768), ("likra's columns", budget, False, 0)],
    }[args.compare]
    runs: dict[str, list[dict]] = {name: [] for name, *_ in settings}
    for _ in range(args.repeats):
        for name, *setting in settings:
            runs[name].append(measure(args, *setting))
    summary = {}
    for name, measured in runs.items():
        summary[name] = {
            key: statistics.median(r[key] for r in measured) for key in ("wall_s", "train_s", "peak_rss_mb")
        }
        print(f"{name:>14}: " + ", ".join(f"{k} {v}" for k, v in summary[name].items()))
    baseline, changed = (runs[name] for name, *_ in settings)
    ratio = [m["train_s"] / w["train_s"] for w, m in zip(baseline, changed, strict=True)]
    names = f"{settings[1][0]} / {settings[0][0]}"
    print(f"training time, {names}, pair by pair: {', '.join(f'{r:.2f}' for r in ratio)}")
    result = {
        "command": " ".join(sys.argv),
        "settings": {k: v for k, v in vars(args).items() if k not in ("out", "child", "run_dir")},
        "summary": summary,
        "train_time_ratio": names,
        "train_time_ratio_pairs": [round(r, 3) for r in ratio],
        "runs": runs,
    }
    compared = "" if args.compare == "micro-batches" else "_" + args.compare.replace("-", "_")
    what = f"preference_memory_{args.task}{compared}"
    out = args.out or result_path(what, Path(__file__).parent / "results")
    write_result(result, out)


if __name__ == "__main__":
    main()
