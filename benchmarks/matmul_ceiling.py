"""The matmul-only ceiling: the largest share of the matmul rate a scoring pass or a training step
could reach at this model's shapes, if it ran nothing but its weight matmuls.

Issue 13 item 3 asks scoring for >= 50% and training for >= 35% of the machine's bf16 matmul rate
(``benchmarks/matmul_rate.py``: the best of four GEMMs). This script asks how much of that rate
the *matmuls alone* reach at the shapes a real pass has. It replays, through ``F.linear`` only,
every weight matmul of

* a real scoring pass: the first ``--limit`` ARC-Challenge test items packed exactly as the scorer
  packs them (``plan_rows``/``plan_batches``): each decoder ``nn.Linear`` in order on an activation
  of the batch's padded size, and the LM head on its scored positions in the scorer's chunks;
* a real training step of one head: the positives of ``--questions`` ARC training questions packed
  as ``HeadTrainer`` packs them (1,024-token micro-batches, widths padded to a multiple of 32):
  the forward matmuls, the second forward of activation checkpointing, and the input-gradient
  matmul of every frozen weight in backward (``dX = dY W``), the LM head's included.

Nothing else runs: no attention, norms, activations, softmax, LoRA, copies or Python around them.
The useful GFLOP is the real pass's (``likra.lm.flops``), so ``useful GFLOP / matmul-only seconds``
divided by the matmul rate (measured right after, same process) bounds what any implementation
built on torch's matmul kernels could reach here. The real pass and step are timed too, taking
turns with the replays, each divided by the rate measured right after it.

    python benchmarks/matmul_ceiling.py --rounds 3    # writes results/matmul_ceiling_<machine>_<date>.json
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import torch
import torch.nn.functional as F

from likra.data.pairs import build_pairs
from likra.data.selection import eval_items, load_items, training_items
from likra.lm.flops import ModelFlops
from likra.lm.forward import HEAD_CHUNK, causal_lm_parts
from likra.lm.packing import (
    BATCH_TOKENS,
    ROW_TOKENS,
    TRAIN_BATCH_TOKENS,
    TRAIN_WIDTH_MULTIPLE,
    Group,
    build_batch,
    plan_batches,
    plan_rows,
)
from likra.lm.tokenize import encode_requests
from likra.model.heads import LoraSettings, attach_heads
from likra.model.load import load_base
from likra.model.precision import result_path, write_result
from likra.score.scorer import encode_and_group, score_items
from likra.training.loop import HeadTrainer, LossTerm, TrainSettings, set_activation_checkpointing

try:  # run as a script, this folder is on sys.path; imported from the repo root, it is a package
    from matmul_rate import cpu_facts, matmul_rate, torch_facts
except ImportError:
    from benchmarks.matmul_rate import cpu_facts, matmul_rate, torch_facts

RESULTS = Path(__file__).resolve().parent / "results"


def decoder_weights(model) -> list[torch.Tensor]:
    """The frozen weight of every linear layer of the decoder, in module order."""
    body, _ = causal_lm_parts(model)
    return [m.weight for m in body.modules() if isinstance(m, torch.nn.Linear)]


def replay(weights, head_weight, batches, *, backward: bool, recompute: bool) -> float:
    """Seconds to run only the weight matmuls of ``batches`` ((padded tokens, scored positions) each)."""
    hidden = head_weight.shape[1]
    dtype = head_weight.dtype
    widest = max(max(w.shape) for w in weights)
    largest = max(m for m, _ in batches)
    generator = torch.Generator().manual_seed(0)
    # One buffer read as (m, k) for every matmul: the values do not matter, only the shapes.
    source = torch.randn(largest * widest, generator=generator).to(dtype)
    head_in = torch.randn(HEAD_CHUNK * hidden, generator=generator).to(dtype)
    vocab = head_weight.shape[0]
    head_grad = torch.randn(HEAD_CHUNK * vocab, generator=generator).to(dtype)
    started = time.perf_counter()
    with torch.inference_mode():
        for m, scored in batches:
            for _ in range(2 if recompute else 1):
                for w in weights:
                    F.linear(source[: m * w.shape[1]].view(m, w.shape[1]), w)
            for start in range(0, scored, HEAD_CHUNK):
                n = min(HEAD_CHUNK, scored - start)
                F.linear(head_in[: n * hidden].view(n, hidden), head_weight)
                if backward:
                    torch.mm(head_grad[: n * vocab].view(n, vocab), head_weight)
            if backward:
                for w in reversed(weights):
                    torch.mm(source[: m * w.shape[0]].view(m, w.shape[0]), w)
    return time.perf_counter() - started


def batch_shapes(groups, batch_tokens: int, width_multiple: int) -> tuple[list[tuple[int, int]], int, int]:
    """(padded tokens, scored positions) of each batch the groups pack into, as the scorer and the
    trainer pack them; and the real input tokens and scored positions in all."""
    shapes, real, scored = [], 0, 0
    for rows in plan_batches(plan_rows(groups, ROW_TOKENS), batch_tokens):
        batch = build_batch(rows, 0, torch.bfloat16, width_multiple)
        shapes.append((batch.input_ids.numel(), len(batch.target_ids)))
        real += batch.n_tokens
        scored += len(batch.target_ids)
    return shapes, real, scored


def summary(gflop: float, seconds: list[float], rates: list[float]) -> dict:
    shares = [gflop / s / r for s, r in zip(seconds, rates)]
    return {
        "seconds": [round(s, 4) for s in seconds],
        "matmul_rate_after_each": [round(r, 1) for r in rates],
        "useful_gflops_per_s": round(gflop / statistics.median(seconds), 1),
        "share_of_matmul_rate_each": [round(x, 4) for x in shares],
        "median_share_of_matmul_rate": round(statistics.median(shares), 4),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="smollm2-135m")
    parser.add_argument("--dtype", default="bf16")
    parser.add_argument("--limit", type=int, default=300, help="ARC-Challenge test items scored")
    parser.add_argument("--questions", type=int, default=32, help="ARC training questions in the step")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--out", type=Path, help="default: benchmarks/results/matmul_ceiling_<machine>_<date>.json")
    args = parser.parse_args()

    base = load_base(args.model, dtype=args.dtype)
    flops = ModelFlops.of(base.model)
    weights = decoder_weights(base.model)
    _, head = causal_lm_parts(base.model)
    items = eval_items("arc_challenge", "test", args.limit, 0)
    requests = [r for item in items for r in item.requests()]
    _, score_groups = encode_and_group(base.tokenizer, requests, base.max_length)
    score_shapes, score_real, score_scored = batch_shapes(score_groups, BATCH_TOKENS, 1)
    score_gflop = flops.forward_gflop(score_real, score_scored)
    pairs = build_pairs(
        training_items(load_items("arc_challenge", "train"), args.seed, args.questions), "first", args.seed
    )
    positives = [p.positive for p in pairs]
    encoded = encode_requests(base.tokenizer, [(e.context, e.answer) for e in positives], base.max_length)
    train_groups = [Group(prefix=e.context, branches=[e.continuation], keys=[i]) for i, e in enumerate(encoded)]
    train_shapes, train_real, train_scored = batch_shapes(train_groups, TRAIN_BATCH_TOKENS, TRAIN_WIDTH_MULTIPLE)
    train_gflop = flops.training_gflop(train_real, train_scored)

    torch.manual_seed(args.seed)
    peft_model = attach_heads(base.model, LoraSettings(), names=("pos",))
    trainer = HeadTrainer(peft_model, base.tokenizer, "pos", TrainSettings(seed=args.seed), base.max_length)

    def real_scoring() -> float:
        """The base model's pass: the training head's adapter switched off."""
        started = time.perf_counter()
        with peft_model.disable_adapter():
            score_items(base.model, base.tokenizer, items, ("base",), max_length=base.max_length, progress=False)
        return time.perf_counter() - started

    def real_training() -> float:
        started = time.perf_counter()
        trainer.step([LossTerm(positives)])
        return time.perf_counter() - started

    cases = {
        "scoring_real": (score_gflop, real_scoring),
        "scoring_matmuls_only": (
            score_gflop,
            lambda: replay(weights, head.weight, score_shapes, backward=False, recompute=False),
        ),
        "training_real": (train_gflop, real_training),
        "training_matmuls_only": (
            train_gflop,
            lambda: replay(weights, head.weight, train_shapes, backward=True, recompute=True),
        ),
        "training_matmuls_only_no_recompute": (
            train_gflop,
            lambda: replay(weights, head.weight, train_shapes, backward=True, recompute=False),
        ),
    }
    for _, run in cases.values():  # warm-up: oneDNN primitives, page faults
        run()
    seconds: dict[str, list[float]] = {name: [] for name in cases}
    rates: dict[str, list[float]] = {name: [] for name in cases}
    for _ in range(args.rounds):
        for name, (_, run) in cases.items():
            seconds[name].append(run())
            rates[name].append(matmul_rate(base.dtype))
    set_activation_checkpointing(peft_model, False)
    result = {
        **cpu_facts(),
        **torch_facts(),
        "model": args.model,
        "dtype": args.dtype,
        "scoring": {
            "items": len(items),
            "batches": len(score_shapes),
            "input_tokens": score_real,
            "padded_tokens": sum(m for m, _ in score_shapes),
            "scored_positions": score_scored,
            "useful_gflop": round(score_gflop, 2),
        },
        "training": {
            "questions": args.questions,
            "micro_batches": len(train_shapes),
            "input_tokens": train_real,
            "padded_tokens": sum(m for m, _ in train_shapes),
            "answer_positions": train_scored,
            "useful_gflop": round(train_gflop, 2),
        },
        "cases": {name: summary(cases[name][0], seconds[name], rates[name]) for name in cases},
        "measured_at": time.strftime("%Y-%m-%dT%H:%M:%S"),
    }
    for name, row in result["cases"].items():
        print(
            f"{name:36s} {statistics.median(seconds[name]):7.3f} s  {row['useful_gflops_per_s']:7.1f} useful GFLOP/s  "
            f"share {row['median_share_of_matmul_rate']:.1%} (rates {row['matmul_rate_after_each']})"
        )
    write_result(result, args.out or result_path("matmul_ceiling", RESULTS, device=base.device))


if __name__ == "__main__":
    main()
