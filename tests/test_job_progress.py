"""The overall progress bar's ETA: per-kind costs learned from the work done, priors before."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

from likra import job_progress
from likra.job_progress import PRIOR_COST, JobProgress


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
    tracker = JobProgress(planned={"train": 100, "score": 1000})
    clock.now = 50.0
    tracker.record("train", 10)  # 5 s per GFLOP
    clock.now = 70.0
    tracker.record("score", 100)  # 0.2 s per GFLOP
    assert tracker.cost("train") == pytest.approx(5.0)
    assert tracker.cost("score") == pytest.approx(0.2)
    assert tracker.eta_seconds() is None  # the job's first kind has reported once
    clock.now = 120.0
    tracker.record("train", 10)  # 5 s per GFLOP again
    assert tracker.eta_seconds() == pytest.approx(80 * 5.0 + 900 * 0.2)
    # Cost-weighted fraction: (20*5 + 100*0.2) / (100*5 + 1000*0.2)
    assert tracker.fraction() == pytest.approx(120 / 700)


def test_an_unmeasured_kind_is_priced_by_its_prior(clock):
    tracker = JobProgress(planned={"train": 10, "score": 80})
    assert tracker.eta_seconds() is None  # nothing measured yet
    clock.now = 12.0
    tracker.record("score", 60)
    clock.now = 16.0
    tracker.record("score", 20)  # 0.2 s per GFLOP; training costs 3x scoring by the prior
    assert tracker.cost("train") == pytest.approx(0.2 * 3)
    assert tracker.eta_seconds() == pytest.approx(10 * 0.6)


def test_eta_is_exact_when_costs_are_constant(clock):
    """With constant per-kind costs the predicted total equals the true total once every kind has
    reported twice; the first reports also pay a set-up (5 s, 20 s), which is never priced."""
    tracker = JobProgress(planned={"train": 20, "score": 200})
    schedule = [("score", 50, 15.0), ("train", 5, 60.0)] + [("score", 50, 10.0), ("train", 5, 40.0)] * 3
    predictions = []
    for kind, units, seconds in schedule:
        clock.now += seconds
        tracker.record(kind, units)
        eta = tracker.eta_seconds()
        predictions.append(None if eta is None else clock.now + eta)
    assert predictions[:2] == [None, None]  # until the job's first kind (score) reports again
    # train's one report (12 s per unit, set-up included) is priced at its prior (0.2 x 3) until it reports again
    assert predictions[2] == pytest.approx(85 + 100 * 0.2 + 15 * 0.2 * PRIOR_COST["train"])
    assert all(p == pytest.approx(225.0) for p in predictions[3:])
    assert tracker.eta_seconds() == 0 and tracker.fraction() == 1.0


def test_advance_outside_a_job_is_a_no_op_and_inside_is_logged(clock, tmp_path):
    job_progress.advance("score", 5)  # nothing listens: must not fail
    log = tmp_path / "progress.jsonl"
    with job_progress.job({"score": 10}, enabled=False, log=log) as tracker:
        clock.now = 1.0
        job_progress.advance("score", 10)
    assert tracker.done == {"score": 10}
    row = json.loads(log.read_text().splitlines()[-1])
    assert row["fraction"] == 1.0 and row["done"] == row["planned"] == {"score": 10.0}


def test_replan_changes_what_is_left_and_the_eta(clock):
    tracker = JobProgress(planned={"train": 100.0})
    for _ in range(2):
        clock.now += 5.0
        tracker.record("train", 5.0)  # 1 s per GFLOP
    assert tracker.eta_seconds() == pytest.approx(90.0)
    tracker.replan("train", -30.0)  # the real negatives turned out shorter than the stand-ins
    assert tracker.eta_seconds() == pytest.approx(60.0)
    assert tracker.fraction() == pytest.approx(10 / 70)
    job_progress.replan("train", 5.0)  # outside a job: nothing listens


def test_bar_amounts_read_in_the_right_unit():
    assert job_progress._amount(12.0) == "12 GFLOP"
    assert job_progress._amount(12_300.0) == "12.3 TFLOP"
    assert job_progress._amount(4_560_000.0) == "4.56 PFLOP"


def test_a_finished_job_is_complete_despite_rounding_and_logs_its_end(clock, tmp_path):
    """Planned and done add the same numbers in other orders; the job still ends at 100% and its
    last log line, marked finished, holds the job's true length."""
    parts = [0.1, 0.7, 0.2, 1e-3, 3.3]
    log = tmp_path / "progress.jsonl"
    with job_progress.job({"score": sum(reversed(parts))}, enabled=False, log=log) as tracker:
        for part in parts:
            clock.now += 1.0
            job_progress.advance("score", part)
        assert tracker.done["score"] != tracker.planned["score"]  # the rounding this test is about
        clock.now += 2.5  # the stage's last work after its last report
    rows = [json.loads(line) for line in log.read_text().splitlines()]
    assert tracker.fraction() == 1.0 and tracker.eta_seconds() == 0.0
    assert rows[-1]["finished"] is True and rows[-1]["elapsed_s"] == 7.5


def test_the_jobs_start_up_is_not_priced_as_work(clock):
    """A short job whose first interval also paid a 20 s start-up (a scoring model loaded on first
    use, the first forward's warm-up): no ETA rests on that interval alone, and once scoring has
    reported again its price leaves it out, so the ETA is the true time left."""
    tracker = JobProgress(planned={"score": 1000.0, "train": 1000.0})
    clock.now = 20.0 + 100 * 0.01  # start-up, then 100 GFLOP at 0.01 s each
    tracker.record("score", 100.0)
    assert tracker.eta_seconds() is None  # before: 900 * 0.21 + 1000 * 0.63 = 819 s, for 39 s left
    for _ in range(4):
        clock.now += 100 * 0.03
        tracker.record("train", 100.0)
    assert tracker.eta_seconds() is None  # scoring has still reported only once
    clock.now += 300 * 0.01
    tracker.record("score", 300.0)
    assert tracker.cost("score") == pytest.approx(0.01) and tracker.cost("train") == pytest.approx(0.03)
    assert tracker.eta_seconds() == pytest.approx(600 * 0.01 + 600 * 0.03)
    # The start-up is still time spent: the fraction done counts the first report's units.
    assert tracker.fraction() == pytest.approx((400 * 0.01 + 400 * 0.03) / (1000 * 0.01 + 1000 * 0.03))


def test_a_kinds_first_interval_pays_its_set_up_and_is_left_out_of_its_price(clock):
    """The first preference step also paid for the trainer's set-up (8 s); the later steps are
    the price, and an unmeasured kind's prior is taken from that price too."""
    tracker = JobProgress(planned={"score": 100.0, "preference": 100.0})
    for _ in range(2):
        clock.now += 10 * 0.1
        tracker.record("score", 10.0)
    assert tracker.cost("preference") == pytest.approx(0.1 * PRIOR_COST["preference"] / PRIOR_COST["score"])
    clock.now += 8.0 + 10 * 1.0
    tracker.record("preference", 10.0)
    # Its only report paid the set-up (1.8 s per unit): the lower prior prices it until it reports again.
    assert tracker.cost("preference") == pytest.approx(0.1 * PRIOR_COST["preference"] / PRIOR_COST["score"])
    clock.now += 10 * 1.0
    tracker.record("preference", 10.0)
    assert tracker.cost("preference") == pytest.approx(1.0)
    assert tracker.eta_seconds() == pytest.approx(80 * 0.1 + 80 * 1.0)


def test_preference_is_priced_from_training_not_from_scoring(clock):
    """Training in bf16 with fp32 scores (AMD), a DPO step cost about what likra's step did, a
    sixth of the 6x scoring's price the ETA gave it: an unmeasured preference kind is priced
    from the measured training kind, which runs at the same precision, before scoring."""
    tracker = JobProgress(planned={"score": 100.0, "train": 100.0, "preference": 100.0})
    for kind, seconds_per_unit in [("score", 0.1), ("score", 0.1), ("train", 0.05), ("train", 0.05)]:
        clock.now += 10 * seconds_per_unit
        tracker.record(kind, 10.0)
    assert tracker.cost("preference") == pytest.approx(0.05 * PRIOR_COST["preference"] / PRIOR_COST["train"])
    assert tracker.eta_seconds() == pytest.approx(80 * 0.1 + 80 * 0.05 + 100 * 0.05 * 2.5)


def test_a_logged_line_holds_the_whole_state_its_eta_came_from(clock, tmp_path):
    """``scripts/eta_accuracy.py --reprice`` recomputes a log's ETAs with the current prices; on a
    log written by the current prices it gives back each logged ETA (up to the log's rounding)."""
    spec = importlib.util.spec_from_file_location(
        "eta_accuracy", Path(__file__).parents[1] / "scripts" / "eta_accuracy.py"
    )
    eta_accuracy = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(eta_accuracy)
    log = tmp_path / "progress.jsonl"
    with job_progress.job({"score": 300.0, "train": 60.0, "preference": 30.0}, enabled=False, log=log):
        reports = [("score", 100, 7.3), ("train", 20, 9.1), ("score", 100, 5.2), ("train", 20, 4.4)]
        reports += [("preference", 15, 30.7), ("score", 100, 5.1), ("preference", 15, 6.6), ("train", 20, 4.9)]
        for kind, units, seconds in reports:
            clock.now += seconds + job_progress.LOG_EVERY_S  # every report writes a line
            job_progress.advance(kind, units)
    rows = [json.loads(line) for line in log.read_text().splitlines()]
    logged = [row["eta_s"] for row in rows]
    assert sum(eta is not None for eta in logged) >= 6
    for row, eta in zip(rows, logged):
        repriced = eta_accuracy.repriced_eta(row)
        assert (repriced is None) == (eta is None)
        if eta is not None:
            assert repriced == pytest.approx(eta, abs=0.2)


def test_a_job_of_one_report_ends_with_no_time_left(clock, tmp_path):
    log = tmp_path / "progress.jsonl"
    with job_progress.job({"score": 10.0}, enabled=False, log=log) as tracker:
        clock.now = 3.0
        job_progress.advance("score", 10.0)
    row = json.loads(log.read_text().splitlines()[-1])
    assert tracker.eta_seconds() == 0.0 and row["eta_s"] == 0.0 and row["first"] == {"score": [10.0, 3.0]}


def test_log_lines_name_the_stage_and_keep_a_peak_that_sampling_misses(clock, tmp_path):
    """A transient between two log lines (64 MB above the peak so far, for a moment) shows in ``peak_rss_mb``,
    the kernel's high-water mark, though ``rss_mb`` at the next line is back down."""
    import gc

    import numpy as np

    log = tmp_path / "progress.jsonl"
    with job_progress.job({"train": 10, "score": 10}, enabled=False, log=log):
        job_progress.set_stage("arc/first-s42: train")
        clock.now = 20.0
        job_progress.advance("train", 10)
        before = json.loads(log.read_text().splitlines()[-1])
        # Above the high-water mark so far by 64 MB, whatever earlier tests left it at; touched: resident.
        size_mb = before["peak_rss_mb"] - job_progress.resident_mb() + 64
        transient = np.ones(int(size_mb * 2**20 // 8))
        del transient
        gc.collect()
        job_progress.set_stage("arc/first-s42: score")
        clock.now = 40.0
        job_progress.advance("score", 5)
    rows = [json.loads(line) for line in log.read_text().splitlines()]
    assert before["stage"] == "arc/first-s42: train"
    after = rows[-2]
    assert after["stage"] == "arc/first-s42: score"
    assert after["peak_rss_mb"] >= before["peak_rss_mb"] >= before["rss_mb"]
    assert after["peak_rss_mb"] >= before["peak_rss_mb"] + 60
    assert after["rss_mb"] < after["peak_rss_mb"] - 60  # the sampled value missed it
    job_progress.set_stage("nothing listens")  # outside a job: a no-op
