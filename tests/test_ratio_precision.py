"""A likelihood ratio needs fp32: heads that differ by less than bf16's rounding keep their ranking
only on the shipped (default) scoring path.

The run's two heads are trained with a tiny learning rate, so per choice pos − neg is far below
the ~0.01-0.1 nats by which bf16 rounds each log-likelihood. Plain bf16 ratio scores then pick
other answers than an fp32 computation; the default path (``likra eval`` with ``--dtype auto``)
must agree with fp32 exactly, even on a CPU where bf16 is native and fast (faked below, so the
old behaviour, "auto" = bf16 there, fails this test on every machine).
"""

from __future__ import annotations

import shutil
import warnings
from pathlib import Path

import numpy as np
import pytest

from likra.io import read_jsonl
from likra.metrics import mode_score, predictions
from likra.model import precision
from likra.score.evaluate import evaluate
from likra.training.loop import TrainSettings
from likra.training.run import train

RATIO_MODES = ("likra", "neg-only", "pos-base")
EVAL = {"task": "arc_challenge", "split": "test", "limit": 40, "progress": False}


@pytest.fixture(scope="module")
def close_heads(tmp_path_factory: pytest.TempPathFactory, tiny_model_dir: Path) -> Path:
    """A tiny-model run whose pos and neg heads differ by ~1e-3 nats per choice (lr 1e-3, one step)."""
    run = tmp_path_factory.mktemp("ratio") / "run"
    train(
        run,
        model=str(tiny_model_dir),
        task="arc",
        max_questions=4,
        settings=TrainSettings(batch_size=4, lr=1e-3),
        progress=False,
        dtype="fp32",
    )
    return run


def scored(run: Path, copy_to: Path, dtype: str) -> list[dict]:
    """The N-4 score table of ``run`` evaluated in a fresh copy with ``--dtype dtype``."""
    shutil.copytree(run, copy_to)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # explicit bf16 warns that ratios suffer
        evaluate(copy_to, checkpoints=["N-4"], dtype=dtype, **EVAL)
    return read_jsonl(next(copy_to.glob("eval/*/N-4/scores.jsonl")))


def agreement(rows: list[dict], reference: list[dict], mode: str) -> float:
    score = mode_score(mode)
    return float(np.mean(predictions(rows, score)["predicted"] == predictions(reference, score)["predicted"]))


def ratio_gaps(rows: list[dict], reference: list[dict]) -> np.ndarray:
    """|Δ(pos − neg)| per choice between two score tables."""
    return np.array(
        [
            abs((c["pos"] - c["neg"]) - (r["pos"] - r["neg"]))
            for row, ref in zip(rows, reference)
            for c, r in zip(row["choices"], ref["choices"])
        ]
    )


def test_default_scoring_keeps_the_ratio_where_plain_bf16_loses_it(
    close_heads: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A CPU where bf16 is native and trains faster: the old "auto" scored in bf16 here.
    monkeypatch.setattr(precision, "cpu_bf16_support", lambda: "amx_bf16")
    monkeypatch.setattr(precision, "cpu_bf16_faster", lambda: True, raising=False)
    reference = scored(close_heads, tmp_path / "fp32", "fp32")
    default = scored(close_heads, tmp_path / "default", "auto")
    plain_bf16 = scored(close_heads, tmp_path / "bf16", "bf16")

    spread = np.median([np.ptp([c["pos"] - c["neg"] for c in row["choices"]]) for row in reference])
    assert 0 < spread < 1e-2  # the heads really differ, by less than bf16 rounds
    assert ratio_gaps(default, reference).max() < spread / 100
    # Measured: spread 2.8e-3 nats, bf16's mean |Δ(pos − neg)| 1.7e-3, bf16 likra agreement 0.475.
    assert ratio_gaps(plain_bf16, reference).mean() > spread / 4  # bf16 rounds as much as the heads differ
    for mode in RATIO_MODES:
        assert agreement(default, reference, mode) == 1.0, mode
    assert agreement(plain_bf16, reference, "likra") < 0.8
    assert all(
        row["choices"][0]["base"] != ref["choices"][0]["base"] for row, ref in zip(plain_bf16[:5], reference[:5])
    )  # bf16 really computed in bf16
