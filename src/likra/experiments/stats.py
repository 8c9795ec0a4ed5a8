"""Two-level (training seed x item) intervals for every number of a report.

A curve point is a matrix ``correct[seed, item]``. The uncertainty of any statistic built from
such matrices comes from two sources: which training seeds (question orders) were run, and which
evaluation items were drawn.

- The item level is a bootstrap: one draw resamples items with replacement and recomputes the
  statistic with the seeds held fixed; every quantity of one comparison uses the same draw, so
  comparisons are paired by item (and by seed: the same seeds enter every quantity).
- The seed level comes from the statistic computed on each seed alone: its spread gives a standard
  error over seeds, scaled by Student's t with seeds - 1 degrees of freedom (4.30 for 3 seeds).
  A bootstrap over 3 seeds cannot see how little 3 seeds say (it under-covers once seeds
  disagree: docs/method.md, "Intervals"), so the seed level's half-width is added in quadrature
  to each side of the item bootstrap's percentile interval.
- Runs with other seeds than the statistic's own (e.g. a negative type run with fewer seeds) are
  still resampled by seed inside the bootstrap, independently of the reference seeds.

Draws are expressed as *weights*: row r of ``seed_counts`` says how often each seed is used and
row r of ``item_counts`` how often each item. The same statistic code then runs on three kinds of
rows: the observed data (one row of ones), one seed at a time (the per-seed values, also shown to
the reader), and the B bootstrap draws.
Written by hand because no library resamples paired items under arbitrary statistics and adds a
small-sample seed level to them.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace

import numpy as np
from scipy import stats as scipy_stats

BOOTSTRAP_SAMPLES = 2000
_ITEM_STREAM, _SEED_STREAM = 0, 1
_Z975 = 1.959963984540054


@dataclass(frozen=True)
class Estimate:
    value: float
    lo: float
    hi: float
    per_seed: tuple[float, ...] | None = None

    @property
    def half_width(self) -> float:
        return (self.hi - self.lo) / 2

    def to_dict(self) -> dict:
        out: dict = {"value": self.value, "ci95": [self.lo, self.hi]}
        if self.per_seed is not None:
            out["per_seed"] = list(self.per_seed)
        return out

    def fmt(self, digits: int = 3) -> str:
        if np.isnan(self.lo) or np.isnan(self.hi):
            # A statistic undefined in some bootstrap draws (no item of a held-out half drawn, a
            # ratio of 0 / 0): said in words, not printed as "[nan, nan]".
            return f"{self.value:.{digits}f} [no interval: undefined in some resamples of so few items]"
        return f"{self.value:.{digits}f} [{self.lo:.{digits}f}, {self.hi:.{digits}f}]"


@dataclass
class Resampling:
    """Weight rows for one evaluation of a statistic (observed, per seed, or bootstrap).

    ``seed_counts(seeds)`` gives the (rows, len(seeds)) seed weights of runs with those seeds:
    in a bootstrap the reference seeds (the statistic's own) are held fixed, since their level is
    added afterwards (``interval``); other seed sets are drawn independently.
    """

    kind: str  # observed | per_seed | bootstrap
    item_index: np.ndarray  # (rows, items): which items each row uses (bootstrap: drawn indices)
    reference_seeds: tuple[int, ...] = ()
    samples: int = 0
    _seed_counts: dict[tuple[int, ...], np.ndarray] = field(default_factory=dict)
    _item_counts: np.ndarray | None = None

    @property
    def rows(self) -> int:
        return self.item_index.shape[0]

    @property
    def n_items(self) -> int:
        return self.item_index.shape[1]

    def item_counts(self) -> np.ndarray:
        """(rows, items) how often each item is used in each row."""
        if self._item_counts is None:
            counts = np.zeros(self.item_index.shape, dtype=np.float64)
            rows = np.repeat(np.arange(self.rows), self.n_items)
            np.add.at(counts, (rows, self.item_index.ravel()), 1.0)
            self._item_counts = counts
        return self._item_counts

    def seed_counts(self, seeds: Sequence[int]) -> np.ndarray:
        seeds = tuple(seeds)
        if seeds not in self._seed_counts:
            self._seed_counts[seeds] = self._make_seed_counts(seeds)
        return self._seed_counts[seeds]

    def _make_seed_counts(self, seeds: tuple[int, ...]) -> np.ndarray:
        n = len(seeds)
        if self.kind == "observed":
            return np.ones((1, n))
        if self.kind == "per_seed":
            # Row r is reference seed r alone; runs that lack it contribute all their seeds.
            out = np.ones((self.rows, n))
            for r, seed in enumerate(self.reference_seeds):
                if seed in seeds:
                    out[r] = 0.0
                    out[r, seeds.index(seed)] = n
            return out
        if seeds == self.reference_seeds:
            return np.ones((self.samples, n))
        rng = np.random.default_rng([_SEED_STREAM, *seeds])
        drawn = rng.integers(0, n, size=(self.samples, n))
        counts = np.zeros((self.samples, n))
        np.add.at(counts, (np.repeat(np.arange(self.samples), n), drawn.ravel()), 1.0)
        return counts

    def per_item(self, correct: np.ndarray, seeds: Sequence[int]) -> np.ndarray:
        """(rows, items) seed-weighted mean per item."""
        correct = np.atleast_2d(np.asarray(correct, dtype=np.float64))
        counts = self.seed_counts(seeds)
        # A sum over seeds in a fixed order, not a matmul: BLAS orders its sums by thread count.
        weighted = sum(counts[:, k, None] * correct[k] for k in range(counts.shape[1]))
        return weighted / counts.sum(axis=1, keepdims=True)

    def mean(self, correct: np.ndarray, seeds: Sequence[int], mask: np.ndarray | None = None) -> np.ndarray:
        """(rows,) mean of ``correct[seed, item]`` under each row's seed and item weights
        (over the items where ``mask`` is true, when given)."""
        weights = self.item_counts() if mask is None else self.item_counts() * mask
        return (self.per_item(correct, seeds) * weights).sum(axis=1) / weights.sum(axis=1)


def resamplings(
    n_items: int, seeds: Sequence[int], samples: int | None = None
) -> tuple[Resampling, Resampling, Resampling]:
    """The observed, per-seed and bootstrap weightings of one evaluation set (shared by every
    statistic on it, so separately computed estimates stay paired). ``samples``: B, default
    ``BOOTSTRAP_SAMPLES``."""
    return _resamplings(n_items, tuple(seeds), samples or BOOTSTRAP_SAMPLES)


@functools.lru_cache(maxsize=8)  # each holds B x items weights (~20 MB at 1,172 items)
def _resamplings(n_items: int, seeds: tuple[int, ...], samples: int) -> tuple[Resampling, Resampling, Resampling]:
    observed = Resampling("observed", np.arange(n_items)[None, :])
    per_seed = Resampling("per_seed", np.tile(np.arange(n_items), (len(seeds), 1)), reference_seeds=tuple(seeds))
    drawn = np.random.default_rng([_ITEM_STREAM, n_items]).integers(0, n_items, size=(samples, n_items))
    return observed, per_seed, Resampling("bootstrap", drawn, reference_seeds=tuple(seeds), samples=samples)


Statistic = Callable[[Resampling], np.ndarray]


def estimate_statistic(
    statistic: Statistic, n_items: int, seeds: Sequence[int], samples: int | None = None
) -> Estimate:
    """A statistic's observed value, its per-seed values and its 95% two-level interval."""
    seeds = tuple(seeds)
    observed, per_seed, bootstrap = resamplings(n_items, seeds, samples)
    # A draw where the statistic is undefined gives nan or inf, which ``interval`` handles: no
    # "invalid value encountered in divide" warning on the user's terminal.
    with np.errstate(divide="ignore", invalid="ignore"):
        value = float(statistic(observed)[0])
        drawn = np.asarray(statistic(bootstrap), dtype=np.float64)
        if len(seeds) < 2:
            return interval(value, drawn)
        return interval(value, drawn, tuple(float(v) for v in statistic(per_seed)))


def interval(value: float, drawn: np.ndarray, per_seed: tuple[float, ...] | None = None) -> Estimate:
    """95% interval from the item bootstrap's values ``drawn`` and the per-seed values.

    Each side of the item level's percentile interval (widened to contain the observed value;
    infinite values allowed: nearest rank) is added in quadrature to the seed level's half-width,
    t(0.975, seeds - 1) * sd(per-seed values) / sqrt(seeds). The per-seed values also hold the
    chance disagreement of runs on the same items, which the item level already counts: the
    interval errs wide (coverage by seed SD in docs/method.md, "Intervals"). One seed, or
    non-finite values, leave the item interval as it is."""
    finite = np.isfinite(drawn).all()
    lo, hi = np.percentile(drawn, [2.5, 97.5], method="linear" if finite else "nearest")
    lo, hi = float(min(lo, value)), float(max(hi, value))
    if per_seed is None or len(per_seed) < 2 or not np.isfinite([value, lo, hi, *per_seed]).all():
        return Estimate(value, lo, hi, per_seed)
    seeds = len(per_seed)
    seed_half_width = float(scipy_stats.t.ppf(0.975, seeds - 1)) * float(np.std(per_seed, ddof=1)) / np.sqrt(seeds)
    return Estimate(
        value,
        value - float(np.hypot(value - lo, seed_half_width)),
        value + float(np.hypot(hi - value, seed_half_width)),
        per_seed,
    )


def mean_estimate(correct: np.ndarray, seeds: Sequence[int], samples: int | None = None) -> Estimate:
    """Mean of a (seeds, items) matrix with its two-level interval (a share's cut to [0, 1])."""
    correct = np.atleast_2d(correct)
    found = estimate_statistic(lambda r: r.mean(correct, seeds), correct.shape[1], seeds, samples)
    return cut_to_shares(found, correct)


def cut_to_shares(found: Estimate, values: np.ndarray) -> Estimate:
    """The interval of a mean of 0/1 indicators (right or wrong, said or not) cut to [0, 1]."""
    if values.size and np.isin(values, (0, 1)).all():
        return cut_to(found, 0.0, 1.0)
    return found


def cut_to(found: Estimate, lo: float, hi: float) -> Estimate:
    """The interval of a statistic that cannot leave [lo, hi] (a share, an AUROC, an ECE) cut to it.

    The seed level's t-widening can reach past the range; the true value lies inside it, so the cut
    never lowers coverage, and a table no longer prints a share of -0.006."""
    return replace(found, lo=max(found.lo, lo), hi=min(found.hi, hi))
