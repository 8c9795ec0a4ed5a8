"""The overall progress bar's ETA: per-kind costs learned from the work done, priors before."""

from __future__ import annotations

import json

import pytest

from likra import job_progress
from likra.job_progress import JobProgress


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch) -> Clock:
    clock = Clock()
    monkeypatch.setattr(job_progress.time, "perf_counter", clock)
    return clock


def test_eta_uses_each_kinds_measured_cost(clock):
    tracker = JobProgress(planned={"example": 100, "choice": 1000})
    clock.now = 50.0
    tracker.record("example", 10)  # 5 s per example
    clock.now = 70.0
    tracker.record("choice", 100)  # 0.2 s per choice
    assert tracker.cost("example") == pytest.approx(5.0)
    assert tracker.cost("choice") == pytest.approx(0.2)
    assert tracker.eta_seconds() == pytest.approx(90 * 5.0 + 900 * 0.2)
    # Cost-weighted fraction: (10*5 + 100*0.2) / (100*5 + 1000*0.2)
    assert tracker.fraction() == pytest.approx(70 / 700)


def test_an_unmeasured_kind_is_priced_by_its_prior(clock):
    tracker = JobProgress(planned={"example": 10, "choice": 60})
    assert tracker.eta_seconds() is None  # nothing measured yet
    clock.now = 12.0
    tracker.record("choice", 60)  # 0.2 s per choice; an example is 6 choices by the prior
    assert tracker.cost("example") == pytest.approx(0.2 * 6)
    assert tracker.eta_seconds() == pytest.approx(10 * 1.2)


def test_eta_is_exact_when_costs_are_constant(clock):
    """With constant per-kind costs the predicted total equals the true total after one of each."""
    tracker = JobProgress(planned={"example": 20, "choice": 200})
    schedule = [("choice", 50, 10.0), ("example", 5, 40.0)] * 4
    predictions = []
    for kind, units, seconds in schedule:
        clock.now += seconds
        tracker.record(kind, units)
        predictions.append(clock.now + tracker.eta_seconds())
    assert all(p == pytest.approx(200.0) for p in predictions[1:])
    assert tracker.eta_seconds() == 0 and tracker.fraction() == 1.0


def test_advance_outside_a_job_is_a_no_op_and_inside_is_logged(clock, tmp_path):
    job_progress.advance("choice", 5)  # nothing listens: must not fail
    log = tmp_path / "progress.jsonl"
    with job_progress.job({"choice": 10}, enabled=False, log=log) as tracker:
        clock.now = 1.0
        job_progress.advance("choice", 10)
    assert tracker.done == {"choice": 10}
    row = json.loads(log.read_text().splitlines()[-1])
    assert row["fraction"] == 1.0 and row["done"] == row["planned"] == {"choice": 10.0}
