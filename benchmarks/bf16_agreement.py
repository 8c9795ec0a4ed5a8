"""Does bf16 scoring on CPU give the same answers as fp32, and how much faster is it?

Scores every choice of a task split (default: the full ARC-Challenge test split, 1172 items)
with the base model only, once in fp32 and once in bf16, in one process. Reports the per-choice
|Δ log-likelihood| distribution, how often the argmax (acc and acc_norm) agrees, acc/acc_norm
with 95% CIs under both dtypes, and the speed of each. Writes
``benchmarks/results/bf16_agreement_<machine>_<date>.json`` (``likra.model.precision.result_path``).

Timing is interleaved: the items are cut into chunks and each chunk is scored under both
dtypes, alternating which goes first, so load from other processes on a shared machine hits
both dtypes about equally. The load average at start and end is recorded to judge the noise.

    python benchmarks/bf16_agreement.py
    python benchmarks/bf16_agreement.py --limit 200 --chunks 2
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import platform
import time
from pathlib import Path

import numpy as np
import torch

from likra.data.registry import get_task
from likra.metrics import all_metrics, mode_score, predictions
from likra.model.load import BaseModel, load_base
from likra.model.precision import cpu_bf16_support, dtype_name, result_path, write_result
from likra.score.scorer import score_items

DTYPES = ("fp32", "bf16")
RESULTS = Path(__file__).resolve().parent / "results"


def _matmul_module():
    # By path: this script runs as ``python benchmarks/...``, where ``benchmarks`` is no package.
    spec = importlib.util.spec_from_file_location("matmul_rate", Path(__file__).with_name("matmul_rate.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def score_interleaved(bases: dict[str, BaseModel], items: list, chunks: int) -> tuple[dict, dict]:
    """Rows and scoring seconds per dtype, scoring chunk by chunk in alternating dtype order."""
    rows = {name: [] for name in bases}
    seconds = {name: 0.0 for name in bases}
    bounds = np.linspace(0, len(items), chunks + 1).astype(int)
    for index, (start, stop) in enumerate(zip(bounds[:-1], bounds[1:])):
        order = list(bases) if index % 2 == 0 else list(bases)[::-1]
        for name in order:
            base = bases[name]
            chunk_rows, stats = score_items(
                base.model, base.tokenizer, items[start:stop], ("base",), max_length=base.max_length, progress=False
            )
            rows[name] += chunk_rows
            seconds[name] += stats.seconds
    return rows, seconds


def distribution(values: np.ndarray) -> dict[str, float]:
    return {
        "mean": float(values.mean()),
        "median": float(np.median(values)),
        "p90": float(np.percentile(values, 90)),
        "p99": float(np.percentile(values, 99)),
        "max": float(values.max()),
    }


def agreement(rows_a: list[dict], rows_b: list[dict], normalise: bool) -> dict:
    """How often two score tables pick the same choice, and how close the flipped calls were."""
    score = mode_score("base")
    a, b = predictions(rows_a, score, normalise), predictions(rows_b, score, normalise)
    flipped = np.flatnonzero(a["predicted"] != b["predicted"])
    margins = []  # fp32 gap between the two choices that swapped: small gaps explain flips
    for i in flipped:
        values = np.array([c["base"] / (max(c["n_chars"], 1) if normalise else 1) for c in rows_a[i]["choices"]])
        margins.append(float(abs(values[a["predicted"][i]] - values[b["predicted"][i]])))
    return {
        "agreement": float(np.mean(a["predicted"] == b["predicted"])),
        "flipped_items": int(len(flipped)),
        "correct_only_fp32": int(np.sum(a["correct"] & ~b["correct"])),
        "correct_only_bf16": int(np.sum(~a["correct"] & b["correct"])),
        "max_fp32_margin_of_flipped": max(margins) if margins else None,
    }


def loglik_deltas(rows_a: list[dict], rows_b: list[dict]) -> tuple[np.ndarray, np.ndarray]:
    """Per-choice signed loglik difference (b - a) and continuation token counts."""
    a = np.array([c["base"] for row in rows_a for c in row["choices"]])
    b = np.array([c["base"] for row in rows_b for c in row["choices"]])
    tokens = np.array([max(c["n_tokens"], 1) for row in rows_a for c in row["choices"]])
    return b - a, tokens


def summarise(rows: dict, seconds: dict, n_choices: int) -> dict:
    delta, tokens = loglik_deltas(rows["fp32"], rows["bf16"])
    metrics = {name: all_metrics(rows[name], ["base"])["base"] for name in rows}
    return {
        "abs_delta_loglik": distribution(np.abs(delta)),
        "abs_delta_loglik_per_token": distribution(np.abs(delta) / tokens),
        "mean_signed_delta_bf16_minus_fp32": float(delta.mean()),
        "acc_agreement": agreement(rows["fp32"], rows["bf16"], normalise=False),
        "acc_norm_agreement": agreement(rows["fp32"], rows["bf16"], normalise=True),
        "metrics": {
            name: {key: metrics[name][key] for key in ("acc", "acc_ci95", "acc_norm", "acc_norm_ci95")} for name in rows
        },
        "speed": {
            name: {"seconds": round(seconds[name], 2), "choices_per_s": round(n_choices / seconds[name], 2)}
            for name in rows
        },
        "bf16_speedup": round(seconds["fp32"] / seconds["bf16"], 3),
    }


def print_table(result: dict) -> None:
    s, d = result["summary"], result["summary"]["abs_delta_loglik"]
    print(
        f"{result['task']}/{result['split']}: {result['items']} items, {result['choices']} choices, "
        f"{result['torch_threads']} threads, cpu bf16: {result['cpu_bf16_feature']}"
    )
    print(f"{'dtype':6s} {'acc':>7s} {'acc_norm':>9s} {'seconds':>8s} {'choices/s':>10s}")
    for name in DTYPES:
        m, sp = s["metrics"][name], s["speed"][name]
        print(f"{name:6s} {m['acc']:7.4f} {m['acc_norm']:9.4f} {sp['seconds']:8.1f} {sp['choices_per_s']:10.1f}")
    print(
        f"|Δ loglik| mean {d['mean']:.4f} median {d['median']:.4f} p90 {d['p90']:.4f} "
        f"p99 {d['p99']:.4f} max {d['max']:.4f} nats"
    )
    print(
        f"argmax agreement: acc {s['acc_agreement']['agreement']:.4f} "
        f"({s['acc_agreement']['flipped_items']} flipped), acc_norm {s['acc_norm_agreement']['agreement']:.4f} "
        f"({s['acc_norm_agreement']['flipped_items']} flipped)"
    )
    print(f"bf16 speed-up: {s['bf16_speedup']:.2f}x   load {result['loadavg_start'][0]} -> {result['loadavg_end'][0]}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="smollm2-135m")
    parser.add_argument("--task", default="arc_challenge")
    parser.add_argument("--split", default="test")
    parser.add_argument("--limit", type=int, default=None, help="first N items (default: all)")
    parser.add_argument("--chunks", type=int, default=4, help="interleaving chunks (>= 1)")
    parser.add_argument("--threads", type=int, default=None, help="torch intra-op threads (default: torch's)")
    parser.add_argument("--no-matmul", action="store_true", help="skip the raw matmul-rate measurement")
    parser.add_argument("--out", type=Path, help="default: benchmarks/results/bf16_agreement_<machine>_<date>.json")
    args = parser.parse_args()

    loadavg_start = os.getloadavg()
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    items = get_task(args.task).load(args.split)[: args.limit]
    bases = {name: load_base(args.model, device="cpu", dtype=name) for name in DTYPES}
    assert [dtype_name(b.dtype) for b in bases.values()] == list(DTYPES)
    for base in bases.values():  # warm-up: oneDNN primitive creation, allocator growth
        score_items(base.model, base.tokenizer, items[:4], ("base",), max_length=base.max_length, progress=False)

    rows, seconds = score_interleaved(bases, items, max(args.chunks, 1))
    n_choices = sum(item.n_choices for item in items)
    matmul = None
    if not args.no_matmul:
        rate = _matmul_module().matmul_rate
        matmul = {name: round(rate(name), 1) for name in DTYPES}
    result = {
        "model": args.model,
        "task": args.task,
        "split": args.split,
        "items": len(items),
        "choices": n_choices,
        "chunks": max(args.chunks, 1),
        "torch": torch.__version__,
        "torch_threads": torch.get_num_threads(),
        "cpu_bf16_feature": cpu_bf16_support(),
        "platform": platform.platform(),
        "matmul_best_gflops": matmul,
        "summary": summarise(rows, seconds, n_choices),
        "loadavg_start": [round(x, 2) for x in loadavg_start],
        "loadavg_end": [round(x, 2) for x in os.getloadavg()],
        "measured_at": time.strftime("%Y-%m-%dT%H:%M:%S"),
    }
    print_table(result)
    write_result(result, args.out or result_path("bf16_agreement", RESULTS))


if __name__ == "__main__":
    main()
