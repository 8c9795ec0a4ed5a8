"""CUDA / bf16 code paths on a tiny random model. Skipped without a GPU (CI has none); run on a
lent GPU with ``PYTHONPATH=src python3 -m pytest -q tests/test_cuda.py``."""

from __future__ import annotations

import json
import math

import pytest
import torch

from fixtures import load_fixture
from likra.model.load import load_base
from likra.score.scorer import score_items
from likra.testing import save_tiny_model

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")


@pytest.fixture(scope="module")
def items():
    return load_fixture("arc_easy_test")[:16]


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory, items):
    texts = [c + x for it in items for c, x in it.requests()]
    return save_tiny_model(tmp_path_factory.mktemp("tiny") / "model", texts)


def test_cuda_defaults_to_bf16_and_scores_match_fp32(model_dir, items):
    gpu = load_base(str(model_dir), device="cuda")
    assert gpu.device.type == "cuda" and gpu.dtype == torch.bfloat16
    cpu = load_base(str(model_dir), device="cpu")
    rows_gpu, _ = score_items(gpu.model, gpu.tokenizer, items, ("base",), progress=False)
    rows_cpu, _ = score_items(cpu.model, cpu.tokenizer, items, ("base",), progress=False)
    gpu32 = load_base(str(model_dir), device="cuda", dtype="float32")
    rows_gpu32, _ = score_items(gpu32.model, gpu32.tokenizer, items, ("base",), progress=False)
    for a, b, c in zip(rows_gpu, rows_cpu, rows_gpu32):
        for x, y, z in zip(a["choices"], b["choices"], c["choices"]):
            assert math.isfinite(x["base"])
            assert abs(z["base"] - y["base"]) < 1e-3  # fp32 on GPU == fp32 on CPU
            assert abs(x["base"] - y["base"]) < 0.05 * abs(y["base"]) + 0.5  # bf16 rounding only


def test_cuda_train_and_eval_end_to_end(model_dir, items, tmp_path):
    from likra.score.evaluate import evaluate
    from likra.training.loop import TrainSettings
    from likra.training.run import train

    data = tmp_path / "train.jsonl"
    data.write_text(
        "".join(
            json.dumps({"id": it.id, "question": it.question, "choices": list(it.choices), "answer": it.gold}) + "\n"
            for it in items
        )
    )
    run = tmp_path / "run"
    checkpoints = train(
        run,
        model=str(model_dir),
        task=str(data),
        settings=TrainSettings(lr=1e-2, batch_size=4),
        device="cuda",
        progress=False,
    )
    assert checkpoints == ["N-4", "N-8", "N-16"]
    log = [json.loads(line) for line in (run / "train_log.jsonl").read_text().splitlines()]
    assert len(log) == 4 and all(math.isfinite(r["pos_loss"]) and math.isfinite(r["neg_loss"]) for r in log)
    results = evaluate(run, task=str(data), split="-", device="cuda", progress=False)
    assert [r["checkpoint"] for r in results] == ["N-0", "N-4", "N-8", "N-16"]
    assert results[0]["modes"]["likra"]["ties"] == len(items)  # untrained heads tie
    assert results[-1]["modes"]["likra"]["ties"] < len(items)  # trained heads separate choices
