"""Synthetic experiments with a known truth: how often an interval covers, how often a rule
says "holds" on a curve that is true (power), "does not hold" on the reversed one, and
"inconclusive" on noise (docs/method.md, "Intervals" and "Power").

A simulated experiment has modes (sft, likra, ...) and, per mode, a true accuracy at each N. Item
i has a difficulty z_i shared by every mode, seed and N; a mode has its own item effects u_{m,i}
(what that way of training finds hard), shared by its seeds; a run (mode, seed) has its own item
effects e_{m,s,i}, shared by its checkpoints; a checkpoint has its own noise f_{m,s,N,i}; and a run
has a seed offset d_{m,s} ~ N(0, sd) on the probability scale. The run is right on item i at N when

    sqrt(rho_modes) z_i + sqrt(rho_seeds - rho_modes) u_{m,i}
    + sqrt(rho_checkpoints - rho_seeds) e_{m,s,i} + sqrt(1 - rho_checkpoints) f_{m,s,N,i}
    < Phi^-1(p_m(N) + d_{m,s}),

so each mode's expected accuracy is p_m(N), and two modes, two seeds of one mode and two
checkpoints of one run agree on which items they get right with latent correlations rho_modes <=
rho_seeds <= rho_checkpoints. The defaults are measured on the committed default run
(``item_correlation``, ``seed_sd``; likra, the least correlated mode): sft vs likra 0.33-0.51 at
N >= 64; likra's seeds 0.63-0.70 and consecutive checkpoints 0.70-0.76 (the defaults); sft's
0.997 and 0.98, neg-only's 0.93-0.99 and 0.85-0.92 (``rho_by_mode``); per-seed SD of accuracy at
352 items, chance included, likra 0.012-0.037, neg-only 0.003-0.007, sft 0.002-0.004.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
from scipy import optimize
from scipy import stats as scipy_stats

from likra.experiments.rules import Scores

# The paper's reported ARC-Challenge curve (acc_norm, read off the reference figures;
# shared/docs/reference-method.md, "Reported numbers"); N = 0 is the base model, sft's first point.
PAPER_CURVE = {
    "sft": {64: 0.613, 128: 0.612, 256: 0.624, 512: 0.639, 1024: 0.627, 2048: 0.640, 4096: 0.648, 6615: 0.663},
    "likra": {64: 0.631, 128: 0.764, 256: 0.799, 512: 0.800, 1024: 0.801, 2048: 0.812, 4096: 0.812, 6615: 0.818},
    "neg-only": {64: 0.595, 128: 0.742, 256: 0.793, 512: 0.774, 1024: 0.783, 2048: 0.784, 4096: 0.767, 6615: 0.775},
}
PAPER_BASE = 0.600
PAPER_ITEMS = 1172  # ARC-Challenge test
# (rho_seeds, rho_checkpoints) of the modes whose runs agree more than likra's, measured on the
# default run; the base model is one model under every seed.
MEASURED_RHO_BY_MODE = {"sft": (0.99, 0.99), "neg-only": (0.95, 0.95), "base": (1.0, 1.0)}


@dataclass(frozen=True)
class Truth:
    """True accuracy per mode and N (N = 0: the base model)."""

    accuracy: Mapping[str, Mapping[int, float]]
    rho_modes: float = 0.4  # latent item correlation between two modes
    rho_seeds: float = 0.65  # latent item correlation between two seeds of one mode
    rho_checkpoints: float = 0.72  # latent item correlation between two checkpoints of one run
    # (rho_seeds, rho_checkpoints) of modes whose runs agree more than likra's (sft's seeds: 0.997)
    rho_by_mode: Mapping[str, tuple[float, float]] = field(default_factory=dict)
    seed_sd: float = 0.02  # SD of a run's accuracy offset across seeds

    def __post_init__(self) -> None:
        for mode in [None, *self.rho_by_mode]:
            seeds, checkpoints = self.rho(mode)
            if not 0.0 <= self.rho_modes <= seeds <= checkpoints <= 1.0:
                raise ValueError(
                    f"expected 0 <= rho_modes <= rho_seeds <= rho_checkpoints <= 1, got {self.rho_modes}, "
                    f"{seeds}, {checkpoints} ({mode or 'default'})"
                )

    def rho(self, mode: str | None) -> tuple[float, float]:
        """(rho_seeds, rho_checkpoints) of a mode."""
        return self.rho_by_mode.get(mode, (self.rho_seeds, self.rho_checkpoints))


def simulate(
    truth: Truth, n_items: int, seeds: Sequence[int], rng: np.random.Generator
) -> dict[str, dict[int, Scores]]:
    """One experiment: per mode, per N, a (seeds, items) table of 0/1 correctness."""
    seeds = tuple(seeds)
    difficulty = rng.standard_normal(n_items)
    out: dict[str, dict[int, Scores]] = {}
    for mode, by_n in truth.accuracy.items():
        rho_seeds, rho_checkpoints = truth.rho(mode)
        shared = np.sqrt(truth.rho_modes) * difficulty + np.sqrt(rho_seeds - truth.rho_modes) * rng.standard_normal(
            n_items
        )
        run = shared + np.sqrt(rho_checkpoints - rho_seeds) * rng.standard_normal((len(seeds), n_items))
        offset = rng.normal(0.0, truth.seed_sd, size=(len(seeds), 1))
        out[mode] = {}
        for n, p in by_n.items():
            latent = run + np.sqrt(1.0 - rho_checkpoints) * rng.standard_normal((len(seeds), n_items))
            threshold = scipy_stats.norm.ppf(np.clip(p + offset, 1e-4, 1 - 1e-4))
            out[mode][n] = Scores((latent < threshold).astype(np.float64), seeds)
    return out


def item_correlation(a: np.ndarray, b: np.ndarray) -> float:
    """The latent correlation of the model above that reproduces how often two runs are both
    right (0/1 vectors over the same items)."""
    pa, pb, both = float(a.mean()), float(b.mean()), float((a * b).mean())
    ta, tb = scipy_stats.norm.ppf(pa), scipy_stats.norm.ppf(pb)

    def both_right(rho: float) -> float:
        cov = [[1.0, rho], [rho, 1.0]]
        return float(scipy_stats.multivariate_normal(mean=[0.0, 0.0], cov=cov).cdf([ta, tb])) - both

    lo, hi = 0.0, 0.999
    if both_right(lo) >= 0.0:
        return 0.0
    if both_right(hi) <= 0.0:
        return hi
    return float(optimize.brentq(both_right, lo, hi, xtol=1e-4))


def seed_sd(table: np.ndarray) -> float:
    """SD over seeds of a (seeds, items) table's accuracy. It includes the chance disagreement of
    two runs on the same items as well as the seed effect, so the simulation built on it has at
    least the seed spread of the real runs (a harder test of power and coverage)."""
    return float(np.std(table.mean(axis=1), ddof=1))
