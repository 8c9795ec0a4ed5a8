"""Statistics for experiment results: seed-averaged accuracy with item-bootstrap intervals.

Each curve point has a matrix ``correct[seed, item]``. Its estimate is the mean; its 95%
interval comes from resampling items (the evaluation set is a sample of questions) on the
seed-averaged per-item correctness. Comparisons between two modes or runs are paired by item.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

BOOTSTRAP_SAMPLES = 2000


@dataclass(frozen=True)
class Estimate:
    value: float
    lo: float
    hi: float

    @property
    def half_width(self) -> float:
        return (self.hi - self.lo) / 2

    def to_dict(self) -> dict:
        return {"value": self.value, "ci95": [self.lo, self.hi]}

    def fmt(self, digits: int = 3) -> str:
        return f"{self.value:.{digits}f} [{self.lo:.{digits}f}, {self.hi:.{digits}f}]"


def bootstrap_indices(n_items: int, samples: int = BOOTSTRAP_SAMPLES, seed: int = 0) -> np.ndarray:
    """Fixed resampling indices, shared by every estimate on the same item set (paired)."""
    return np.random.default_rng(seed).integers(0, n_items, size=(samples, n_items))


def item_means(correct: np.ndarray) -> np.ndarray:
    """Seed-averaged per-item values from a (seeds, items) or (items,) array."""
    correct = np.asarray(correct, dtype=np.float64)
    return correct.mean(axis=0) if correct.ndim == 2 else correct


def estimate(per_item: np.ndarray, indices: np.ndarray | None = None) -> Estimate:
    """Mean of per-item values with a 95% percentile bootstrap interval over items."""
    per_item = np.asarray(per_item, dtype=np.float64)
    value = float(per_item.mean()) if per_item.size else 0.0
    if per_item.size < 2:
        return Estimate(value, value, value)
    indices = bootstrap_indices(per_item.size) if indices is None else indices
    means = per_item[indices].mean(axis=1)
    lo, hi = np.percentile(means, [2.5, 97.5])
    return Estimate(value, float(min(lo, value)), float(max(hi, value)))


def ratio(numerator: np.ndarray, denominator: np.ndarray, indices: np.ndarray | None = None) -> Estimate | None:
    """Ratio of two per-item means with a paired bootstrap interval; None when undefined."""
    numerator, denominator = np.asarray(numerator, float), np.asarray(denominator, float)
    den = denominator.mean()
    if den == 0:
        return None
    indices = bootstrap_indices(numerator.size) if indices is None else indices
    num_b, den_b = numerator[indices].mean(axis=1), denominator[indices].mean(axis=1)
    valid = den_b != 0
    ratios = num_b[valid] / den_b[valid]
    lo, hi = np.percentile(ratios, [2.5, 97.5])
    value = float(numerator.mean() / den)
    return Estimate(value, float(min(lo, value)), float(max(hi, value)))
