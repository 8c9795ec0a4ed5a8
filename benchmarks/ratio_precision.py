"""Do a run's ratio scores keep their ranking in a given precision? Per checkpoint and mode.

likra's modes subtract one log-likelihood from another (likra = pos − neg, neg-only = base − neg,
pos-base, weighted); early in training the two terms differ by a few hundredths of a nat, less
than bf16 rounds each of them. This scores one run's checkpoints under each *candidate* scoring
precision (``auto`` is what ``likra eval`` does by default) and under an fp32 *reference* packed
differently (``--reference-batch-tokens``, so it is an independent fp32 computation, not the same
arithmetic twice), and prints per checkpoint and mode: how often the candidate's answer is the
reference's, acc and acc_norm of both, ties, the reference's median spread of the mode's score
over an item's choices, and the candidate's median / p99 per-choice |Δ score|.

    python benchmarks/ratio_precision.py RUN [RUN ...] --limit 300 --candidates auto,bf16

Writes a JSON with every row and the machine it ran on
(``benchmarks/results/ratio_precision_<machine>_<date>.json``).
"""

from __future__ import annotations

import argparse
import time
import warnings
from pathlib import Path

import numpy as np
import torch

from likra.data.selection import eval_items
from likra.lm import forward
from likra.lm.packing import BATCH_TOKENS
from likra.metrics import MODES, predictions, weighted
from likra.model.heads import attach_heads, load_head_weights
from likra.model.precision import SCORING, compute_description, dtype_name, resolve_dtype, result_path, write_result
from likra.score import scorer
from likra.score.evaluate import LazyModel, lora_settings, match_adapter_dtype, read_run_config
from likra.score.scorer import score_items

RESULTS = Path(__file__).resolve().parent / "results"
MODE_SCORES = {
    "likra": MODES["likra"],
    "neg-only": MODES["neg-only"],
    "pos-base": MODES["pos-base"],
    "weighted(w-=0.5)": weighted(1.0, 0.5),
    "base": MODES["base"],
    "sft": MODES["sft"],
}


# Cheaper mixed precisions that were tried and rejected (docs/method.md, "Why a likelihood ratio
# needs fp32"): bf16 with fp32 logits, and bf16 matmuls under autocast with an fp32 residual stream
# and fp32 logits. They replace the scorer's forward for this benchmark only.
MIXED = {"bf16-fp32-logits": "bf16", "bf16-autocast": "fp32"}


def mixed_forward(candidate: str):
    """The scorer's forward with the body in bf16 (weights or autocast) and the LM head in fp32."""

    def target_logprobs(model, batch, device):
        body, head = forward.causal_lm_parts(model)
        autocast = candidate == "bf16-autocast"
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=autocast):
            hidden = body(
                input_ids=batch.input_ids,
                attention_mask=batch.attention_mask,
                position_ids=batch.position_ids,
                use_cache=False,
            ).last_hidden_state
        predictors = hidden[batch.target_rows, batch.target_positions].float()
        logits = predictors @ head.weight.float().T
        return torch.log_softmax(logits, -1).gather(1, batch.target_ids[:, None])[:, 0]

    return target_logprobs


def score_run(run: Path, checkpoints: list[str], items: list, dtype: str, batch_tokens: int) -> tuple[dict, float]:
    """{checkpoint: score rows with base, pos and neg} of ``run`` scored in ``dtype``; seconds."""
    scorer.target_logprobs = mixed_forward(dtype) if dtype in MIXED else forward.target_logprobs
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # an explicit bf16 warns about ratios
        loaded = LazyModel(read_run_config(run)["model"], "cpu", MIXED.get(dtype, dtype)).get()
    started = time.perf_counter()
    options = {"max_length": loaded.max_length, "batch_tokens": batch_tokens, "progress": False}
    base_rows, _ = score_items(loaded.model, loaded.tokenizer, items, ("base",), **options)
    peft_model = attach_heads(loaded.model, lora_settings(read_run_config(run)))
    tables = {}
    for checkpoint in checkpoints:
        for head in ("pos", "neg"):
            load_head_weights(peft_model, run / "checkpoints" / checkpoint / head, head)
        match_adapter_dtype(peft_model, loaded.dtype)
        rows, _ = score_items(peft_model, loaded.tokenizer, items, ("pos", "neg"), **options)
        for row, base in zip(rows, base_rows):
            row["gold"] = base["gold"]
            for choice, base_choice in zip(row["choices"], base["choices"]):
                choice["base"] = base_choice["base"]
        tables[checkpoint] = rows
    peft_model.unload()
    return tables, time.perf_counter() - started


def compare(rows: list[dict], reference: list[dict], mode: str) -> dict:
    """One mode of one checkpoint: the candidate against the fp32 reference."""
    score = MODE_SCORES[mode]
    ours, ref = predictions(rows, score), predictions(reference, score)
    ours_norm, ref_norm = predictions(rows, score, True), predictions(reference, score, True)
    gaps = np.array(
        [abs(score(c) - score(r)) for a, b in zip(rows, reference) for c, r in zip(a["choices"], b["choices"])]
    )
    spread = np.median([np.ptp([score(c) for c in row["choices"]]) for row in reference])
    return {
        "agreement": float(np.mean(ours["predicted"] == ref["predicted"])),
        "acc": float(ours["correct"].mean()),
        "acc_fp32": float(ref["correct"].mean()),
        "acc_norm": float(ours_norm["correct"].mean()),
        "acc_norm_fp32": float(ref_norm["correct"].mean()),
        "ties": int(ours["tied"].sum()),
        "ties_fp32": int(ref["tied"].sum()),
        "fp32_median_spread": float(spread),
        "median_abs_delta": float(np.median(gaps)),
        "p99_abs_delta": float(np.percentile(gaps, 99)),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("runs", nargs="+", type=Path)
    parser.add_argument("--task", default="arc_challenge")
    parser.add_argument("--split", default="test")
    parser.add_argument("--limit", type=int, default=300)
    parser.add_argument("--checkpoints", default="N-16,N-32,N-64,N-128,N-256")
    parser.add_argument(
        "--candidates",
        default="auto,bf16",
        help=f"scoring precisions to check: likra eval's --dtype (auto, fp32, bf16) or {', '.join(MIXED)}",
    )
    parser.add_argument("--first-run-only", default="", help="candidates scored for the first run only")
    parser.add_argument("--reference-batch-tokens", type=int, default=1024)
    parser.add_argument("--out", type=Path, help="default: benchmarks/results/ratio_precision_<machine>_<date>.json")
    args = parser.parse_args()
    items = eval_items(args.task, args.split, args.limit, 0)
    checkpoints = [c.strip() for c in args.checkpoints.split(",")]
    rows_out, seconds = [], {}
    for run in args.runs:
        reference, seconds[f"{run}:fp32-reference"] = score_run(
            run, checkpoints, items, "fp32", args.reference_batch_tokens
        )
        first_only = [c for c in args.first_run_only.split(",") if c]
        for candidate in args.candidates.split(",") + (first_only if run == args.runs[0] else []):
            tables, seconds[f"{run}:{candidate}"] = score_run(run, checkpoints, items, candidate, BATCH_TOKENS)
            for checkpoint in checkpoints:
                for mode in MODE_SCORES:
                    row = {"run": str(run), "checkpoint": checkpoint, "candidate": candidate, "mode": mode}
                    row |= compare(tables[checkpoint], reference[checkpoint], mode)
                    rows_out.append(row)
                    print(
                        f"{run.name:>10} {checkpoint:>6} {candidate:>5} {mode:>16}  agree {row['agreement']:.3f}  "
                        f"acc {row['acc']:.3f}/{row['acc_fp32']:.3f}  acc_norm {row['acc_norm']:.3f}/"
                        f"{row['acc_norm_fp32']:.3f}  ties {row['ties']}/{row['ties_fp32']}  spread "
                        f"{row['fp32_median_spread']:.3f}  |Δ| median {row['median_abs_delta']:.4f} "
                        f"p99 {row['p99_abs_delta']:.4f}",
                        flush=True,
                    )
    result = {
        "task": args.task,
        "split": args.split,
        "items": len(items),
        "reference": f"fp32, batch_tokens {args.reference_batch_tokens}",
        "candidates": {
            c: f"likra eval --dtype {c}, batch_tokens {BATCH_TOKENS}" if c not in MIXED else f"{c} (see MIXED)"
            for c in args.candidates.split(",") + [c for c in args.first_run_only.split(",") if c]
        },
        "computed_on": compute_description("cpu", torch.float32),
        "bf16_kernel": compute_description("cpu", torch.bfloat16),
        "auto_scores_in": dtype_name(resolve_dtype("cpu", "auto", SCORING)),
        "seconds": {k: round(v, 1) for k, v in seconds.items()},
        "rows": rows_out,
        "measured_at": time.strftime("%Y-%m-%dT%H:%M:%S"),
    }
    write_result(result, args.out or result_path("ratio_precision", RESULTS), indent=1)


if __name__ == "__main__":
    main()
