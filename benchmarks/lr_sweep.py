"""Short learning-rate sweep: which constant LR should `likra train --method M` default to?

Trains method M on the first N questions of the ARC pool (seed 42, `first` negatives) at each
learning rate and scores ARC-Challenge validation (not test: the sweep must not peek at the
evaluation set). Prints acc_norm of each method's modes per LR and writes JSON
(``benchmarks/results/lr_sweep_<methods>_<machine>_<date>.json``). The base model's scores
are computed once and shared by every LR's run.

    python benchmarks/lr_sweep.py                                   # likra (and sft: its pos head)
    python benchmarks/lr_sweep.py --methods likra,sft,unlikelihood,dpo,kto   # one protocol for all

Every method gets the same protocol (questions, batch, seed, grid, validation set), so their
learning rates are chosen alike (issue 25): likra's was once swept at batch 32 / 256 questions
and the others' at batch 16 / 128.
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
import time
from pathlib import Path

from likra.layout import RunLayout, eval_folder_name
from likra.model.load import load_base
from likra.model.precision import result_path, write_result
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


# The mode each method is deployed as (its curve in the reports): sft is likra's pos head, trained
# alone on the same batches, so a likra run is also an sft run and sft is chosen from its column.
DEPLOYED = {"likra": "likra", "sft": "sft", "unlikelihood": "unlikelihood", "dpo": "dpo", "kto": "kto"}
SWEPT_BY = {"sft": "likra"}  # methods whose runs another method's runs already are


def sweep_method(method: str, lrs: list[float], args: argparse.Namespace, base, tmp: Path, shared: dict) -> list[dict]:
    """Train ``method`` at each learning rate and score its modes on the validation set."""
    folder = eval_folder_name(args.eval_task, args.eval_split, 0, None)
    rows = []
    for lr in lrs:
        run = tmp / f"{method}-lr{lr}"
        started = time.perf_counter()
        train(
            run,
            model=args.model,
            max_questions=args.questions,
            settings=TrainSettings(lr=lr, batch_size=args.batch_size, seed=args.seed),
            loaded=base,
            progress=False,
            method=method,
        )
        trained = time.perf_counter() - started
        if "base" in shared:  # the base model's scores do not depend on the run
            RunLayout(run).base_scores(folder).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(shared["base"], RunLayout(run).base_scores(folder))
        metrics = evaluate(
            run, task=args.eval_task, split=args.eval_split, checkpoints="final", loaded=base, progress=False
        )[-1]
        if "base" not in shared:
            shared["base"] = tmp / "base.jsonl"
            shutil.copy(RunLayout(run).base_scores(folder), shared["base"])
        row = {
            "method": method,
            "lr": lr,
            "questions": args.questions,
            "train_seconds": round(trained, 1),
            "seconds": round(time.perf_counter() - started, 1),
        }
        for mode in MODES[method]:
            row[mode] = round(metrics["modes"][mode]["acc_norm"], 4)
        row["base"] = round(metrics["modes"]["base"]["acc_norm"], 4)
        print(json.dumps(row), flush=True)
        rows.append(row)
    return rows


def choose(method: str, rows: list[dict]) -> dict:
    """The learning rate whose deployed mode scores highest (ties: the smaller rate)."""
    mode = DEPLOYED[method]
    own = [r for r in rows if r["method"] == SWEPT_BY.get(method, method)]
    best = max(sorted(own, key=lambda r: r["lr"]), key=lambda r: r[mode])
    lrs = [r["lr"] for r in own]
    edge = best["lr"] in (min(lrs), max(lrs))
    print(
        f"{method}: chosen lr {best['lr']:g} ({mode} acc_norm {best[mode]})" + (" at the grid's edge" if edge else "")
    )
    return {"mode": mode, "chosen_lr": best["lr"], "acc_norm": best[mode], "chosen_at_grid_edge": edge}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="smollm2-135m")
    parser.add_argument(
        "--methods",
        default="likra",
        help=f"comma-separated, of {', '.join(DEPLOYED)}; every one on the same questions, batch, grid and seed",
    )
    parser.add_argument("--questions", type=int, default=128)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--lrs", default="1e-4,3e-4,1e-3,3e-3,1e-2,3e-2")
    parser.add_argument("--eval-task", default="arc_challenge")
    parser.add_argument("--eval-split", default="validation")
    parser.add_argument(
        "--out",
        type=Path,
        default=None,
        help="default: benchmarks/results/lr_sweep_<method>[_<method>...]_<machine>_<date>.json",
    )
    args = parser.parse_args()
    methods = [m for m in args.methods.split(",") if m]
    unknown = [m for m in methods if m not in DEPLOYED]
    if unknown:
        parser.error(f"unknown method {unknown[0]!r}; expected one of {', '.join(DEPLOYED)}")
    lrs = [float(x) for x in args.lrs.split(",")]
    base = load_base(args.model)
    rows: list[dict] = []
    shared: dict = {}
    with tempfile.TemporaryDirectory() as tmp:
        for method in dict.fromkeys(SWEPT_BY.get(m, m) for m in methods):  # sft's runs are likra's
            rows += sweep_method(method, lrs, args, base, Path(tmp), shared)
    result = {
        "protocol": (
            f"each method trained on the first {args.questions} questions of the ARC pool (seed {args.seed}, `first` "
            f"negatives, batch {args.batch_size}, one epoch, constant lr) at every lr of the grid, scored in fp32 on "
            f"{args.eval_task}/{args.eval_split}; chosen: the highest acc_norm of the mode the method is deployed as"
        ),
        "model": args.model,
        "metric": "acc_norm",
        "grid": lrs,
        "chosen": {method: choose(method, rows) for method in methods},
        "runs": rows,
    }
    write_result(result, args.out or result_path(f"lr_sweep_{'_'.join(methods)}", RESULTS, device=base.device))


if __name__ == "__main__":
    main()
