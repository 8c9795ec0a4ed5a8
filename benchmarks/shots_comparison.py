"""0-shot vs k-shot evaluation of the same trained runs (the paper evaluated 5-shot).

The heads are trained on the zero-shot form, as the reference does; each run is then scored with
``likra eval --shots K`` (demonstrations drawn as lm-eval draws them). Prints acc_norm per mode at
each N, 0-shot and K-shot, over the runs' seeds with two-level (seed x item) bootstrap intervals,
and the K-shot minus 0-shot difference of likra - sft; writes
``benchmarks/results/shots_comparison_<machine>_<date>.json``.

    python benchmarks/shots_comparison.py EXP/runs/arc/first-s42 EXP/runs/arc/first-s43 EXP/runs/arc/first-s44 \\
        --zero arc_challenge-test-0shot-limit352 --k arc_challenge-test-5shot-lmeval-limit352 --checkpoints N-64,N-256
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from likra.experiments.rules import Scores
from likra.experiments.stats import estimate_statistic, mean_estimate
from likra.io import read_json, read_jsonl
from likra.metrics import MODES, predictions
from likra.model.precision import result_path, write_result

MODES_SHOWN = ("base", "sft", "likra", "neg-only")
RESULTS = Path(__file__).resolve().parent / "results"


def correctness(runs: list[Path], folder: str, checkpoint: str, mode: str) -> np.ndarray:
    """(seeds, items) acc_norm correctness of one mode at one checkpoint."""
    rows = []
    for run in runs:
        table = run / "eval" / folder / checkpoint / "scores.jsonl"
        rows.append(predictions(read_jsonl(table), MODES[mode], normalise=True)["correct"].astype(float))
    return np.stack(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("runs", nargs="+", type=Path)
    parser.add_argument("--zero", required=True, help="the 0-shot eval folder name")
    parser.add_argument("--k", required=True, help="the k-shot eval folder name")
    parser.add_argument("--checkpoints", default="N-64,N-256")
    parser.add_argument(
        "--out", type=Path, default=None, help="default: benchmarks/results/shots_comparison_<machine>_<date>.json"
    )
    args = parser.parse_args()
    seeds = tuple(int(read_json(run / "config.json")["train"]["seed"]) for run in args.runs)
    result: dict = {
        "runs": [str(r) for r in args.runs],
        "seeds": list(seeds),
        "zero": args.zero,
        "k": args.k,
        "rows": [],
    }
    print(f"acc_norm, {len(seeds)} seeds {list(seeds)}, 95% two-level bootstrap; {args.zero} vs {args.k}")
    print("| N | mode | 0-shot | k-shot |")
    print("|---|---|---|---|")
    for checkpoint in args.checkpoints.split(","):
        for mode in MODES_SHOWN:
            zero = mean_estimate(correctness(args.runs, args.zero, checkpoint, mode), seeds)
            k = mean_estimate(correctness(args.runs, args.k, checkpoint, mode), seeds)
            print(f"| {checkpoint} | {mode} | {zero.fmt()} | {k.fmt()} |")
            result["rows"].append(
                {"checkpoint": checkpoint, "mode": mode, "zero_shot": zero.to_dict(), "k_shot": k.to_dict()}
            )
        if checkpoint != "N-0":
            gap = {
                folder: (
                    Scores(correctness(args.runs, folder, checkpoint, "likra"), seeds),
                    Scores(correctness(args.runs, folder, checkpoint, "sft"), seeds),
                )
                for folder in (args.zero, args.k)
            }
            for folder, (likra, sft) in gap.items():
                diff = estimate_statistic(lambda r, a=likra, b=sft: a.mean(r) - b.mean(r), likra.n_items, seeds)
                print(f"| {checkpoint} | likra - sft ({folder}) | {diff.fmt()} | |")
                result["rows"].append({"checkpoint": checkpoint, "likra_minus_sft": folder, "estimate": diff.to_dict()})
    write_result(result, args.out or result_path("shots_comparison", RESULTS))


if __name__ == "__main__":
    main()
