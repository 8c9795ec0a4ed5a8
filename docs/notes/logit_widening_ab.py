"""A/B: the LM head's bf16 logits widened to fp32 by a separate copy (``.float()``, likra before
2026-12-01) or inside ``log_softmax(..., dtype=torch.float32)`` (likra now), on whole scoring passes.

Both give bit-identical log-likelihoods (checked here on every choice). The first ``--limit``
ARC-Challenge test items are scored (base model) with each in turn, after one untimed pass each;
medians of warm passes. Writes ``--out`` as JSON (default ``docs/notes/logit_widening_ab_<machine>_<date>.json``).

    python docs/notes/logit_widening_ab.py --rounds 5
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import torch

from likra.data.selection import eval_items
from likra.lm import forward
from likra.model.load import load_base
from likra.model.precision import result_path
from likra.score.scorer import score_items

NOTES = Path(__file__).resolve().parent  # results beside this script: docs/notes/<what>_<machine>_<date>.json


def widened_by_copy(head, hidden: torch.Tensor, targets: torch.Tensor, softcap: float | None) -> torch.Tensor:
    """The chunk log-probabilities as likra computed them before: an fp32 copy of the logits first."""
    logits = head(hidden).float()
    if softcap:
        logits = torch.tanh(logits / softcap) * softcap
    return torch.log_softmax(logits, dim=-1).gather(1, targets[:, None])[:, 0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="smollm2-135m")
    parser.add_argument("--dtype", default="bf16")
    parser.add_argument("--limit", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--out", type=Path, help="default: docs/notes/logit_widening_ab_<machine>_<date>.json")
    args = parser.parse_args()

    base = load_base(args.model, dtype=args.dtype)
    items = eval_items("arc_challenge", "test", args.limit, 0)
    variants = {"copy_then_log_softmax": widened_by_copy, "log_softmax_dtype_fp32": forward._chunk_logprobs}

    def one_pass(name: str) -> tuple[float, list[float]]:
        original = forward._chunk_logprobs
        forward._chunk_logprobs = variants[name]
        try:
            started = time.perf_counter()
            rows, _ = score_items(
                base.model, base.tokenizer, items, ("base",), max_length=base.max_length, progress=False
            )
            return time.perf_counter() - started, [c["base"] for row in rows for c in row["choices"]]
        finally:
            forward._chunk_logprobs = original

    first = {name: one_pass(name)[1] for name in variants}
    identical = first["copy_then_log_softmax"] == first["log_softmax_dtype_fp32"]
    times: dict[str, list[float]] = {name: [] for name in variants}
    for _ in range(args.rounds):
        for name in variants:
            times[name].append(round(one_pass(name)[0], 3))
    result = {
        "model": args.model,
        "dtype": args.dtype,
        "items": len(items),
        "choices": len(first["copy_then_log_softmax"]),
        "bit_identical_logliks": identical,
        "seconds": times,
        "median_seconds": {name: statistics.median(v) for name, v in times.items()},
        "measured_at": time.strftime("%Y-%m-%dT%H:%M:%S"),
    }
    for name, values in times.items():
        print(f"{name:26s} median {statistics.median(values):6.2f} s  {values}")
    print(f"bit-identical log-likelihoods: {identical}")
    out = args.out or result_path("logit_widening_ab", NOTES, device=base.device)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
