"""Finding 1b (the jump) on a curve straight on log N: how many seeds does "does not hold" need?

The simulation of benchmarks/verdict_power.py (its "paper" and "straight" scenarios, 1,172 items,
seed SD 0.005), with 3, 5 and 10 training seeds, 20 experiments each; prints each row's verdict
counts and the median upper end of the interval of S (the rule: S > 2 holds).

    PYTHONPATH=src python docs/notes/jump_power_by_seeds.py 20 1172
"""

import collections
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
from likra.experiments.rules import jump  # noqa: E402
from likra.experiments.simulate import MEASURED_RHO_BY_MODE, Truth, simulate  # noqa: E402
from verdict_power import truths  # noqa: E402

draws, n_items = int(sys.argv[1]), int(sys.argv[2])
started = time.time()
for n_seeds in (3, 5, 10):
    seeds = tuple(range(42, 42 + n_seeds))
    for scenario in ("paper", "straight"):
        curves, base = truths()[scenario]
        rng = np.random.default_rng([25, n_items, n_seeds, len(scenario)])
        counts: collections.Counter = collections.Counter()
        upper = []
        for _ in range(draws):
            truth = Truth({**curves, "base": {0: base}}, seed_sd=0.005, rho_by_mode=MEASURED_RHO_BY_MODE)
            table = simulate(truth, n_items, seeds, rng)
            test, _ = jump(table["sft"], table["likra"])
            counts[test.verdict] += 1
            upper.append(test.estimate.hi)
        print(n_seeds, scenario, n_items, dict(counts), "median upper", round(float(np.median(upper)), 2), flush=True)
print("seconds", round(time.time() - started))
