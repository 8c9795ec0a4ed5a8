"""Short learning-rate sweep for the default model: which constant LR should `likra train` default to?

Trains both heads on the first N questions of the ARC pool (seed 42, `first` negatives) at each
learning rate and scores ARC-Challenge validation (not test: the sweep must not peek at the
evaluation set). Prints acc_norm of sft, likra and neg-only per LR and writes JSON.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

from likra.model.load import load_base
from likra.score.evaluate import evaluate
from likra.train.loop import TrainSettings
from likra.train.run import train


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--model", default="smollm2-135m")
    parser.add_argument("--questions", type=int, default=256)
    parser.add_argument("--lrs", default="1e-4,3e-4,1e-3,3e-3,1e-2")
    parser.add_argument("--eval-task", default="arc_challenge")
    parser.add_argument("--eval-split", default="validation")
    parser.add_argument("--out", default="benchmarks/results/lr_sweep.json")
    args = parser.parse_args()
    base = load_base(args.model)
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        for lr in [float(x) for x in args.lrs.split(",")]:
            run = Path(tmp) / f"lr{lr}"
            started = time.perf_counter()
            train(
                run,
                model=args.model,
                max_questions=args.questions,
                settings=TrainSettings(lr=lr),
                loaded=base,
                progress=False,
            )
            metrics = evaluate(
                run, task=args.eval_task, split=args.eval_split, checkpoints="final", loaded=base, progress=False
            )[-1]
            row = {"lr": lr, "questions": args.questions, "seconds": round(time.perf_counter() - started, 1)}
            for mode in ("sft", "likra", "neg-only", "pos-base"):
                row[mode] = round(metrics["modes"][mode]["acc_norm"], 4)
            row["base"] = round(metrics["modes"]["base"]["acc_norm"], 4)
            print(json.dumps(row), flush=True)
            results.append(row)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(
        json.dumps({"eval": f"{args.eval_task}/{args.eval_split}", "metric": "acc_norm", "runs": results}, indent=2)
        + "\n"
    )


if __name__ == "__main__":
    main()
