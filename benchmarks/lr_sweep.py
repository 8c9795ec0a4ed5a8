"""Short learning-rate sweep: which constant LR should `likra train --method M` default to?

Trains method M on the first N questions of the ARC pool (seed 42, `first` negatives) at each
learning rate and scores ARC-Challenge validation (not test: the sweep must not peek at the
evaluation set). Prints acc_norm of M's modes per LR and writes JSON
(``benchmarks/results/lr_sweep[_M]_<machine>_<date>.json``). The base model's scores
are computed once and shared by every LR's run.

    python benchmarks/lr_sweep.py                                   # likra (two heads)
    python benchmarks/lr_sweep.py --method dpo --lrs 1e-4,1e-3,1e-2 --batch-size 16 --questions 128
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
import time
from pathlib import Path

from likra.layout import RunLayout, eval_folder_name
from likra.methods import METHODS
from likra.model.load import load_base
from likra.model.precision import result_path
from likra.score.evaluate import evaluate
from likra.training.loop import TrainSettings
from likra.training.run import train

RESULTS = Path(__file__).resolve().parent / "results"
MODES = {
    "likra": ("sft", "likra", "neg-only", "pos-base"),
    "sft": ("sft", "pos-base"),
    "unlikelihood": ("unlikelihood", "unlikelihood-ratio"),
    "dpo": ("dpo", "dpo-ratio"),
    "kto": ("kto", "kto-ratio"),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--model", default="smollm2-135m")
    parser.add_argument("--method", default="likra", choices=METHODS)
    parser.add_argument("--questions", type=int, default=256)
    parser.add_argument("--batch-size", type=int, default=TrainSettings.batch_size)
    parser.add_argument("--lrs", default="1e-4,3e-4,1e-3,3e-3,1e-2")
    parser.add_argument("--eval-task", default="arc_challenge")
    parser.add_argument("--eval-split", default="validation")
    parser.add_argument(
        "--out", type=Path, default=None, help="default: benchmarks/results/lr_sweep[_METHOD]_<machine>_<date>.json"
    )
    args = parser.parse_args()
    base = load_base(args.model)
    what = "lr_sweep" if args.method == "likra" else f"lr_sweep_{args.method}"
    out = args.out or result_path(what, RESULTS, device=base.device)
    folder = eval_folder_name(args.eval_task, args.eval_split, 0, None)
    results, shared_base = [], None
    with tempfile.TemporaryDirectory() as tmp:
        for lr in [float(x) for x in args.lrs.split(",")]:
            run = Path(tmp) / f"lr{lr}"
            started = time.perf_counter()
            settings = TrainSettings(lr=lr, batch_size=args.batch_size)
            train(
                run,
                model=args.model,
                max_questions=args.questions,
                settings=settings,
                loaded=base,
                progress=False,
                method=args.method,
            )
            trained = time.perf_counter() - started
            if shared_base is not None:  # the base model's scores do not depend on the run
                RunLayout(run).base_scores(folder).parent.mkdir(parents=True, exist_ok=True)
                shutil.copy(shared_base, RunLayout(run).base_scores(folder))
            metrics = evaluate(
                run, task=args.eval_task, split=args.eval_split, checkpoints="final", loaded=base, progress=False
            )[-1]
            shared_base = shared_base or Path(tmp) / "base.jsonl"
            if not shared_base.exists():
                shutil.copy(RunLayout(run).base_scores(folder), shared_base)
            row = {
                "lr": lr,
                "questions": args.questions,
                "train_seconds": round(trained, 1),
                "seconds": round(time.perf_counter() - started, 1),
            }
            for mode in MODES[args.method]:
                row[mode] = round(metrics["modes"][mode]["acc_norm"], 4)
            row["base"] = round(metrics["modes"]["base"]["acc_norm"], 4)
            print(json.dumps(row), flush=True)
            results.append(row)
    deployed = "likra" if args.method == "likra" else args.method  # the mode the method is used as
    best = max(results, key=lambda row: row[deployed])
    lrs = sorted(row["lr"] for row in results)
    print(f"chosen lr {best['lr']:g} ({deployed} acc_norm {best[deployed]})")
    if best["lr"] in (lrs[0], lrs[-1]):
        print("the best lr is at the edge of the grid: extend the grid before choosing it")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(
        json.dumps(
            {
                "method": args.method,
                "eval": f"{args.eval_task}/{args.eval_split}",
                "metric": "acc_norm",
                "train": f"first {args.questions} questions of the ARC pool (seed 42, first negatives, batch {args.batch_size})",
                "model": args.model,
                "criterion": f"the highest acc_norm of mode `{deployed}` (the model as deployed) on the validation set",
                "chosen_lr": best["lr"],
                "chosen_at_grid_edge": best["lr"] in (lrs[0], lrs[-1]),
                "runs": results,
            },
            indent=2,
        )
        + "\n"
    )


if __name__ == "__main__":
    main()
