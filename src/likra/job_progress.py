"""One overall progress bar for a whole job, with an ETA that learns what each kind of work costs.

A job (``likra reproduce``/``likra curve``) plans the work it has left in units that reflect
cost: the useful GFLOP (``likra.lm.flops``) of training (``train``: likra's loop;
``preference``: TRL's DPO/KTO) and of scoring (``score``: one pass of one model variant). Counting
tokens rather than examples or choices keeps the ETA right when cheap work (question-ablated runs,
whose examples are a few tokens) follows dear work. The training loops and the scorer report what
they finish through :func:`advance` (a no-op outside a job, so the per-stage bars work alone).
The ETA sums, per kind, the remaining units times the seconds per unit measured so far; a kind
not yet measured is priced by its prior ratio to a measured one. Written by hand because tqdm's
ETA assumes every unit costs the same.

Costs paid once are not priced as work. Each kind's first report also pays for what came before
it: for the job's first, the job's start-up (a scoring model loaded on first use, tokenising, the
first forward pass's warm-up), which can be most of a short job's first interval; for a later
kind, its first stage's set-up. So once a kind has reported again, its price is measured over its
later reports only (its first interval still counts as time spent); until then it is priced by
its prior, and the ETA is withheld until the job's first kind has reported again.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from tqdm.auto import tqdm

from likra.io import append_jsonl

# Seconds per useful GFLOP of each kind relative to scoring, before it is measured: training
# recomputes activations and runs small LoRA kernels; TRL's trainers also run the reference
# model and pad their batches.
# Generating advances a few rows one token at a time: small matrix products, far from the
# scorer's packed batches. Measured 3.6 in the open-ended run (2-core Intel, fp32; train 1.9,
# preference 5.8); the earlier guess of 20 put that run's ETA 330% high after its first tenth.
PRIOR_COST = {"train": 3.0, "preference": 7.5, "score": 1.0, "generate": 4.0}
# The two training kinds run at the training precision, which can differ from scoring's (bf16
# training with fp32 scores on AMD), so each is priced from the other first. TRL's step against
# likra's, measured (s per GFLOP, later reports): 2.6-3.5x in fp32 on Intel, 1.1x in bf16 on AMD;
# priced from scoring at 6x, DPO was 6x too dear on AMD and the HellaSwag profile's ETA up to 28%
# high until its first DPO step; +7.9% with these prices (scripts/eta_accuracy.py --reprice).
PRICED_FROM = {"preference": ("train",), "train": ("preference",)}
LOG_EVERY_S = 15.0


@dataclass
class JobProgress:
    """Planned and done units per kind, and the seconds spent on the done ones."""

    planned: dict[str, float]
    done: dict[str, float] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)
    first: dict[str, tuple[float, float]] = field(default_factory=dict)  # each kind's first (units, seconds)
    started: float = field(default_factory=lambda: time.perf_counter())
    log: Path | None = None
    bar: tqdm | None = None
    _last_mark: float = field(default_factory=lambda: time.perf_counter())
    _last_log: float = 0.0
    stage: str | None = None  # what the job is on now (a run's name), written with each log line

    @classmethod
    def from_log_row(cls, row: dict) -> JobProgress:
        """The state one ``progress.jsonl`` line records (see ``write_log_row``), to price again."""
        first = {kind: (units, seconds) for kind, (units, seconds) in row["first"].items()}
        return cls(dict(row["planned"]), dict(row["done"]), dict(row["seconds"]), first)

    def cost(self, kind: str) -> float | None:
        """Seconds per unit of ``kind``: measured over its reports after the first. A kind with one
        report is priced by the lower of that report and its prior relative to a kind measured
        without set-up: the one report paid its set-up (a DPO trainer's first step cost 4x its
        later ones), so it can only overstate. A kind not yet reported is priced by its prior."""
        if self.reported_again(kind):
            return self.measured(kind)
        prior = self._prior(kind, lambda other: self.reported_again(other))
        if self.done.get(kind):
            return min(self.measured(kind), prior) if prior is not None else self.measured(kind)
        return prior if prior is not None else self._prior(kind, lambda other: bool(self.done.get(other)))

    def _prior(self, kind: str, usable) -> float | None:
        """``kind``'s prior cost relative to a usable measured kind: the one it is priced from
        (``PRICED_FROM``) if measured, else the first."""
        for other in [*PRICED_FROM.get(kind, ()), *self.done]:
            if other != kind and usable(other) and other in PRIOR_COST and kind in PRIOR_COST:
                return self.measured(other) * PRIOR_COST[kind] / PRIOR_COST[other]
        return None

    def measured(self, kind: str) -> float:
        """Seconds per unit of a kind that has reported: over its reports after the first once
        there are any (the first interval also paid the once-only costs), else over the first."""
        first_units, first_seconds = self.first[kind]
        if self.reported_again(kind):
            return (self.seconds[kind] - first_seconds) / (self.done[kind] - first_units)
        return self.seconds[kind] / self.done[kind]

    def reported_again(self, kind: str) -> bool:
        """Whether ``kind`` has finished units after its first report."""
        units = self.done.get(kind, 0.0)
        return kind in self.first and units - self.first[kind][0] > 1e-9 * units

    def remaining(self, kind: str) -> float:
        left = self.planned.get(kind, 0.0) - self.done.get(kind, 0.0)
        # Done and planned are sums of the same numbers in another order: equal up to rounding.
        return left if left > 1e-9 * self.planned.get(kind, 0.0) else 0.0

    def eta_seconds(self) -> float | None:
        if all(self.remaining(kind) == 0.0 for kind in self.planned):
            return 0.0
        if not self.first or not self.reported_again(next(iter(self.first))):
            return None  # the only price would rest on the interval that paid the job's start-up
        total = 0.0
        for kind in self.planned:
            cost = self.cost(kind)
            if cost is None:
                return None
            total += self.remaining(kind) * cost
        return total

    def fraction(self) -> float:
        """Work finished, weighted by cost (unit counts until a cost is known)."""
        weights = {k: self.cost(k) or PRIOR_COST.get(k, 1.0) for k in self.planned}
        total = sum(self.planned[k] * weights[k] for k in self.planned)
        finished = sum((self.planned[k] - self.remaining(k)) * weights[k] for k in self.planned)
        return finished / total if total else 1.0

    def replan(self, kind: str, units: float) -> None:
        """Add ``units`` (possibly negative) to the plan of ``kind``: a stage priced with a
        stand-in before its inputs existed is priced again once they do."""
        self.planned[kind] = self.planned.get(kind, 0.0) + units

    def record(self, kind: str, units: float) -> None:
        """``units`` of ``kind`` finished; the time since the last record is theirs."""
        now = time.perf_counter()
        if units and kind not in self.first:
            self.first[kind] = (units, now - self._last_mark)
        self.done[kind] = self.done.get(kind, 0.0) + units
        self.seconds[kind] = self.seconds.get(kind, 0.0) + (now - self._last_mark)
        self._last_mark = now
        self._show(now)

    def _show(self, now: float) -> None:
        eta = self.eta_seconds()
        fraction = self.fraction()
        if self.bar is not None:
            self.bar.n = round(100 * fraction, 1)
            left = _clock(eta) if eta is not None else "?"
            self.bar.set_postfix_str(
                f"left ~{left}; "
                + ", ".join(
                    f"{k} {_amount(self.planned[k] - self.remaining(k))}/{_amount(self.planned[k])}"
                    for k in self.planned
                )
            )
        if now - self._last_log >= LOG_EVERY_S or fraction >= 1.0:
            self.write_log_row(now)

    def write_log_row(self, now: float, finished: bool = False) -> None:
        """One line of ``progress.jsonl`` (also at the job's end, so the log holds its true length)."""
        if self.log is None:
            return
        self._last_log = now
        eta = self.eta_seconds()
        row = {
            "elapsed_s": round(now - self.started, 1),
            "fraction": round(self.fraction(), 4),
            "eta_s": None if eta is None else round(eta, 1),
            "rss_mb": resident_mb(),
            # The kernel's high-water mark: a transient between two lines shows as a rise here.
            "peak_rss_mb": peak_resident_mb(),
            "stage": self.stage,
            "done": dict(self.done),
            "planned": dict(self.planned),
            "seconds": {k: round(v, 1) for k, v in self.seconds.items()},
            "first": {k: [units, round(seconds, 1)] for k, (units, seconds) in self.first.items()},
        }
        append_jsonl(self.log, row | ({"finished": True} if finished else {}))


def resident_mb() -> float | None:
    """This process's resident memory now (Linux), to show that it does not grow with the runs."""
    try:
        pages = int(Path("/proc/self/statm").read_text().split()[1])
    except (OSError, ValueError, IndexError):
        return None
    return round(pages * os.sysconf("SC_PAGE_SIZE") / 2**20, 1)


def peak_resident_mb() -> float | None:
    """This process's peak resident memory so far (Linux: ``VmHWM``), which sampling every
    ``LOG_EVERY_S`` would miss when the peak lasts a second."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return round(int(line.split()[1]) / 1024, 1)  # kB
    except (OSError, ValueError, IndexError):
        pass
    return None


_CURRENT: list[JobProgress] = []


@contextlib.contextmanager
def job(
    planned: dict[str, float], enabled: bool = True, log: Path | None = None, desc: str = "whole job"
) -> Iterator[JobProgress]:
    """Track a job's planned units (GFLOP per kind); its bar sits above the per-stage bars."""
    bar = tqdm(
        total=100,
        desc=desc,
        unit="%",
        position=0,
        leave=True,
        disable=not enabled,
        bar_format="{desc}: {percentage:3.0f}%|{bar}| {elapsed} elapsed{postfix}",
    )
    tracker = JobProgress(planned={k: float(v) for k, v in planned.items() if v}, log=log, bar=bar)
    _CURRENT.append(tracker)
    try:
        yield tracker
        tracker.write_log_row(time.perf_counter(), finished=True)
    finally:
        _CURRENT.remove(tracker)
        bar.close()


def advance(kind: str, units: float) -> None:
    """Report ``units`` of work of ``kind`` finished just now (no-op outside a job)."""
    if _CURRENT:
        _CURRENT[-1].record(kind, units)


def set_stage(name: str | None) -> None:
    """Name what the current job works on now, for its log lines (no-op outside a job)."""
    if _CURRENT:
        _CURRENT[-1].stage = name


def replan(kind: str, units: float) -> None:
    """Change the current job's plan of ``kind`` by ``units`` (no-op outside a job)."""
    if _CURRENT:
        _CURRENT[-1].replan(kind, units)


def _amount(gflop: float) -> str:
    """GFLOP as the bar shows them: 12.3 TFLOP, 4.56 PFLOP."""
    for unit, scale in (("PFLOP", 1e6), ("TFLOP", 1e3)):
        if gflop >= scale:
            return f"{gflop / scale:.3g} {unit}"
    return f"{gflop:.3g} GFLOP"


def _clock(seconds: float) -> str:
    seconds = int(seconds)
    return (
        f"{seconds // 3600}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}"
        if seconds >= 3600
        else f"{seconds // 60:02d}:{seconds % 60:02d}"
    )
