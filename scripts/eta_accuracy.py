"""How right the overall ETA of ``likra reproduce`` was: read ``EXP/progress.jsonl`` afterwards.

    python scripts/eta_accuracy.py runs/reproduce

For every logged moment, the predicted total time (elapsed + ETA) against the true total (the
last line's elapsed time: since 2026-12-01 a job writes a line marked ``finished`` as it ends;
older logs end at their last periodic line, up to 15 s early); prints the worst relative error
after the first tenth of the run. A resumed experiment's log holds one run of lines per
invocation (each starts its clock at 0); the last invocation is checked unless ``--invocation K``
names another (1 = the first), and each invocation's length is listed.

``--reprice`` recomputes every line's ETA with this likra's pricing (``likra.job_progress``) from
the work done, the seconds spent and the plan the line records: how a change to the pricing would
have done on a real run. Each line holds the whole state the ETA is computed from, so without a
change the repriced ETA is the logged one.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def invocations(rows: list[dict]) -> list[list[dict]]:
    """The log's lines split where the clock starts again (a resumed job)."""
    runs: list[list[dict]] = []
    for row in rows:
        if not runs or row["elapsed_s"] < runs[-1][-1]["elapsed_s"]:
            runs.append([])
        runs[-1].append(row)
    return runs


def repriced_eta(row: dict) -> float | None:
    """The ETA this likra's pricing gives for the state one log line records."""
    from likra.job_progress import JobProgress

    return JobProgress.from_log_row(row).eta_seconds()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("exp_dir", type=Path)
    parser.add_argument("--after", type=float, default=0.1, help="ignore the first fraction of the run")
    parser.add_argument(
        "--true-total", type=float, default=None, help="the job's length in seconds, for a log without a finished line"
    )
    parser.add_argument("--invocation", type=int, default=None, help="which invocation to check (1 = the first)")
    parser.add_argument("--reprice", action="store_true", help="recompute each line's ETA with this likra's pricing")
    args = parser.parse_args()
    log = args.exp_dir if args.exp_dir.is_file() else args.exp_dir / "progress.jsonl"  # a copied log works too
    lines = [json.loads(line) for line in log.read_text().splitlines() if line.strip()]
    runs = invocations(lines)
    if len(runs) > 1:
        for number, run in enumerate(runs, 1):
            state = "finished" if run[-1].get("finished") else "stopped"
            print(f"invocation {number}: {run[-1]['elapsed_s']:.0f} s, {state} at fraction {run[-1]['fraction']:.3f}")
    rows = runs[(args.invocation or len(runs)) - 1]
    total = args.true_total or rows[-1]["elapsed_s"]
    if not rows[-1].get("finished") and args.true_total is None:
        print("note: the log has no 'finished' line (an older likra, or the job was interrupted)")
    errors = []
    for row in rows:
        eta = repriced_eta(row) if args.reprice else row["eta_s"]
        if eta is None or row["elapsed_s"] < args.after * total:
            continue
        predicted = row["elapsed_s"] + eta
        errors.append((row["elapsed_s"], predicted, (predicted - total) / total))
    for elapsed, predicted, error in errors[:: max(len(errors) // 12, 1)]:
        print(f"at {elapsed:7.0f} s ({elapsed / total:5.1%}): predicted total {predicted:7.0f} s, error {error:+.1%}")
    worst = max(errors, key=lambda e: abs(e[2]))
    print(
        f"true total {total:.0f} s; worst error after {args.after:.0%} of the run: {worst[2]:+.1%} "
        f"(at {worst[0]:.0f} s); {len(errors)} predictions checked"
    )


if __name__ == "__main__":
    main()
