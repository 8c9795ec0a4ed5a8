"""How often the report's 95% intervals cover the truth, by seed spread (issue 25, item 9).

Simulates experiments with a known truth (likra.experiments.simulate): two modes with true
accuracies 0.30 and 0.36 on 352 items, 3 seeds, the item correlations measured on the default run
(simulate.Truth's defaults), and a per-seed SD of accuracy from 0 to 0.05. For each it computes the interval of one mode's accuracy and of the
paired difference, as the report does (item bootstrap + t-based seed level), and as the report
did before (one bootstrap over seeds, then items), and counts how often each covers the true
value.

    python benchmarks/interval_coverage.py --sims 500    # writes results/interval_coverage_<machine>_<date>.json
"""

from __future__ import annotations

import argparse
import json
import time
from datetime import date
from pathlib import Path

import numpy as np

from likra.experiments.simulate import Truth, simulate
from likra.experiments.stats import BOOTSTRAP_SAMPLES, Estimate, Resampling, estimate_statistic
from likra.model.precision import machine_slug, result_path, write_result

TRUE = {"a": 0.30, "b": 0.36}
RESULTS = Path(__file__).resolve().parent / "results"


def seed_bootstrap(statistic, n_items: int, seeds: tuple[int, ...]) -> Estimate:
    """The interval before issue 25: one bootstrap draw resamples seeds, then items; percentiles."""
    drawn_items = np.random.default_rng([0, n_items]).integers(0, n_items, size=(BOOTSTRAP_SAMPLES, n_items))
    draws = Resampling("bootstrap", drawn_items, reference_seeds=(), samples=BOOTSTRAP_SAMPLES)
    values = statistic(draws)
    lo, hi = np.percentile(values, [2.5, 97.5])
    return Estimate(float("nan"), float(lo), float(hi))


def coverage(seed_sd: float, sims: int, n_items: int, seeds: tuple[int, ...]) -> dict:
    truth = Truth({"a": {1: TRUE["a"]}, "b": {1: TRUE["b"]}}, seed_sd=seed_sd)
    rng = np.random.default_rng([25, round(seed_sd * 1000)])
    hits = {k: 0 for k in ("mean_now", "difference_now", "mean_before", "difference_before")}
    widths = {"mean_now": [], "difference_now": []}
    for _ in range(sims):
        table = simulate(truth, n_items, seeds, rng)
        a, b = table["a"][1], table["b"][1]

        def difference(r, a=a, b=b):
            return b.mean(r) - a.mean(r)

        for name, statistic, true in (("mean", a.mean, TRUE["a"]), ("difference", difference, TRUE["b"] - TRUE["a"])):
            now = estimate_statistic(statistic, n_items, seeds)
            before = seed_bootstrap(statistic, n_items, seeds)
            hits[f"{name}_now"] += now.lo <= true <= now.hi
            hits[f"{name}_before"] += before.lo <= true <= before.hi
            widths[f"{name}_now"].append(now.half_width)
    return {
        "seed_sd": seed_sd,
        **{k: v / sims for k, v in hits.items()},
        **{f"median_half_width_{k}": float(np.median(v)) for k, v in widths.items()},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sims", type=int, default=500)
    parser.add_argument("--items", type=int, default=352)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--out", type=Path, help="default: benchmarks/results/interval_coverage_<machine>_<date>.json")
    args = parser.parse_args()
    seeds = tuple(range(1, args.seeds + 1))
    started = time.perf_counter()
    rows = []
    for sd in (0.0, 0.01, 0.02, 0.03, 0.04, 0.05):
        rows.append(coverage(sd, args.sims, args.items, seeds))
        print(json.dumps(rows[-1]))
    result = {
        "what": "coverage of nominal 95% intervals (mean of one mode, paired difference of two)",
        "sims_per_row": args.sims,
        "items": args.items,
        "seeds": args.seeds,
        "rho_modes": Truth({}).rho_modes,
        "rho_seeds": Truth({}).rho_seeds,
        "true": TRUE,
        "rows": rows,
        "date": date.today().isoformat(),
        "machine": machine_slug(),
        "seconds": round(time.perf_counter() - started, 1),
    }
    write_result(result, args.out or result_path("interval_coverage", RESULTS), indent=1)


if __name__ == "__main__":
    main()
