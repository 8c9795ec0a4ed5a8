"""Evaluation speed: likra's packed scorer vs lm-evaluation-harness's HFLM, same model, same items.

Both score the base log-likelihood of every choice of the same items, in one process, on the
one model object likra loaded (lm-eval gets it through ``HFLM(pretrained=model)``). Prints
choices/s for both, their ratio, the largest per-choice log-likelihood difference and whether
acc agrees; writes ``benchmarks/results/eval_speed_<dtype>_<machine>_<date>.json``.

Both also get an achieved *useful* GFLOP/s (``likra.lm.flops``): likra's unique input
tokens x 2 x non-embedding parameters, plus the LM head at the scored (continuation) positions,
divided by each one's time. lm-eval runs more raw work (every choice repeats its context, and
the head runs at every position), but the useful work is the same, so the two figures compare.
Beside them: this machine's measured CPU matmul rate for the dtype used
(``benchmarks/matmul_rate.py``, measured in the same process after the scoring runs), and
likra's fraction of it.

    python benchmarks/eval_speed.py --limit 300            # ARC-Challenge test, first 300 items
    python benchmarks/eval_speed.py --task hellaswag --split validation --limit 100
    python benchmarks/eval_speed.py --limit 300 --dtype bf16
"""

from __future__ import annotations

import argparse
import platform
import time
from pathlib import Path

import numpy as np
import torch

from likra.data.selection import eval_items
from likra.lm.flops import forward_flops, non_embedding_params
from likra.model.load import load_base
from likra.model.precision import DTYPE_CHOICES, dtype_name, result_path, write_result
from likra.score.scorer import score_items

try:  # run as a script, this folder is on sys.path; imported from the repo root, it is a package
    from matmul_rate import matmul_rate
except ImportError:
    from benchmarks.matmul_rate import matmul_rate

RESULTS = Path(__file__).resolve().parent / "results"


def lm_eval_logliks(lm, requests: list[tuple[str, str]]) -> list[float]:
    from lm_eval.api.instance import Instance

    instances = [
        Instance(request_type="loglikelihood", doc={}, arguments=(ctx, cont), idx=i)
        for i, (ctx, cont) in enumerate(requests)
    ]
    return [float(ll) for ll, _ in lm.loglikelihood(instances, disable_tqdm=True)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="smollm2-135m")
    parser.add_argument("--task", default="arc_challenge")
    parser.add_argument("--split", default="test")
    parser.add_argument("--limit", type=int, default=300)
    parser.add_argument("--batch-size", type=int, default=16, help="lm-eval's batch size (requests)")
    parser.add_argument("--batch-tokens", type=int, default=4096, help="likra's token budget per batch")
    parser.add_argument("--device", default=None)
    parser.add_argument("--dtype", default="fp32", choices=DTYPE_CHOICES, help="model dtype (load_base's)")
    parser.add_argument(
        "--out", type=Path, default=None, help="default: benchmarks/results/eval_speed_<dtype>_<machine>_<date>.json"
    )
    args = parser.parse_args()

    from lm_eval.models.huggingface import HFLM

    base = load_base(args.model, device=args.device, dtype=args.dtype)
    dtype = dtype_name(base.dtype)
    items = eval_items(args.task, args.split, args.limit, 0)
    requests = [r for item in items for r in item.requests()]
    lm = HFLM(pretrained=base.model, tokenizer=base.tokenizer, batch_size=args.batch_size, device=str(base.device))

    # Warm up both paths (allocator, kernels) on two items so neither pays one-time costs.
    score_items(base.model, base.tokenizer, items[:2], ("base",), progress=False)
    lm_eval_logliks(lm, [r for item in items[:2] for r in item.requests()])

    def sync() -> None:
        if base.device.type == "cuda":
            torch.cuda.synchronize()

    sync()
    started = time.perf_counter()
    rows, stats = score_items(
        base.model,
        base.tokenizer,
        items,
        ("base",),
        max_length=base.max_length,
        batch_tokens=args.batch_tokens,
        progress=False,
    )
    sync()
    likra_seconds = time.perf_counter() - started
    ours = np.array([c["base"] for row in rows for c in row["choices"]])

    started = time.perf_counter()
    theirs = np.array(lm_eval_logliks(lm, requests))
    sync()
    lm_eval_seconds = time.perf_counter() - started

    # Useful work, the same for both: likra's unique input tokens, the head at scored positions.
    scored_positions = sum(c["n_tokens"] for row in rows for c in row["choices"])
    useful_gflop = forward_flops(base.model, stats.input_tokens, scored_positions) / 1e9
    # The CPU's matmul rate (meaningless for a GPU run), at the thread count the scoring used.
    peak = matmul_rate(base.dtype) if base.device.type == "cpu" else None

    def flop_rate(seconds: float) -> dict:
        achieved = useful_gflop / seconds
        return {
            "gflops_per_s": round(achieved, 2),
            "fraction_of_matmul_rate": round(achieved / peak, 4) if peak else None,
        }

    diff = np.abs(ours - theirs)
    cursor, agree, acc_ours, acc_theirs = 0, 0, 0, 0
    for item in items:
        a, b = ours[cursor : cursor + item.n_choices], theirs[cursor : cursor + item.n_choices]
        cursor += item.n_choices
        agree += int(np.argmax(a)) == int(np.argmax(b))
        acc_ours += int(np.argmax(a)) == item.gold
        acc_theirs += int(np.argmax(b)) == item.gold
    result = {
        "model": args.model,
        "task": args.task,
        "split": args.split,
        "items": len(items),
        "choices": len(requests),
        "device": str(base.device),
        "dtype": dtype,
        "dtype_requested": args.dtype,
        "torch_threads": torch.get_num_threads(),
        "platform": platform.platform(),
        "likra": {
            "seconds": round(likra_seconds, 3),
            "choices_per_s": round(len(requests) / likra_seconds, 2),
            "batch_tokens": args.batch_tokens,
            "truncated": stats.n_truncated,
            "input_tokens": stats.input_tokens,
            **flop_rate(likra_seconds),
        },
        "lm_eval": {
            "seconds": round(lm_eval_seconds, 3),
            "choices_per_s": round(len(requests) / lm_eval_seconds, 2),
            "batch_size": args.batch_size,
            **flop_rate(lm_eval_seconds),
        },
        "useful_flops": {
            "non_embedding_params": non_embedding_params(base.model),
            "input_tokens": stats.input_tokens,
            "scored_positions": scored_positions,
            "gflop": round(useful_gflop, 3),
        },
        "matmul_rate_gflops_per_s": round(peak, 1) if peak else None,
        "speedup": round(lm_eval_seconds / likra_seconds, 3),
        "max_abs_loglik_diff": float(diff.max()),
        "mean_abs_loglik_diff": float(diff.mean()),
        "argmax_agreement": agree / len(items),
        "acc_likra": acc_ours / len(items),
        "acc_lm_eval": acc_theirs / len(items),
        "measured_at": time.strftime("%Y-%m-%dT%H:%M:%S"),
    }
    print(
        f"{args.task}/{args.split}: {len(items)} items, {len(requests)} choices on {base.device} ({dtype}); "
        f"useful work {useful_gflop:.1f} GFLOP ({stats.input_tokens} input tokens, {scored_positions} scored)"
    )
    peak_text = f"{peak:.1f} GFLOP/s" if peak else "n/a (not a CPU run)"
    for name, label, seconds in (("likra", "likra   ", likra_seconds), ("lm_eval", "lm-eval ", lm_eval_seconds)):
        r = result[name]
        share = f", {r['fraction_of_matmul_rate']:.1%} of matmul rate" if peak else ""
        print(
            f"{label}: {r['choices_per_s']:8.2f} choices/s ({seconds:.1f} s), "
            f"{r['gflops_per_s']:7.2f} useful GFLOP/s{share}"
        )
    print(f"matmul rate ({dtype}, {torch.get_num_threads()} threads): {peak_text}")
    print(
        f"speed-up: {result['speedup']:.2f}x   max |Δ loglik| = {diff.max():.2e}   "
        f"argmax agreement = {result['argmax_agreement']:.3f}   acc {result['acc_likra']:.3f} vs {result['acc_lm_eval']:.3f}"
    )
    write_result(result, args.out or result_path(f"eval_speed_{dtype_name(base.dtype)}", RESULTS, device=base.device))


if __name__ == "__main__":
    main()
