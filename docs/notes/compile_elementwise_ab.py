"""Would compiling the decoder's elementwise pieces speed up bf16 scoring, and what does it change?

A warm scoring pass of SmolLM2-135M on a 2-core CPU spends under half its time in matmuls; the
rest is attention and chains of small elementwise kernels (RMSNorm's fp32 round trip, rotary
embeddings, SiLU x up). This script compiles three of them with ``torch.compile(dynamic=True)``
(inductor fuses each chain into one C++ loop), patches them into transformers' Llama modules,
and scores the same ARC-Challenge test items with and without, in turns (this machine's speed
drifts within minutes). It also scores the items in fp32 and reports how far each bf16 variant's
per-choice log-likelihoods are from it: inductor keeps fp32 between the ops it fuses where eager
rounds to bf16 after each, so the numbers move; ``--emulate-precision-casts`` asks inductor to
round where eager does. Writes ``docs/notes/compile_elementwise_ab[_emulate_casts]_<machine>_<date>.json``.

The projections stay eager (they carry LoRA adapters, whose swapping would make dynamo
recompile), so nothing here is used by likra itself: it measures whether the option is worth it.

    python docs/notes/compile_elementwise_ab.py --limit 300 --rounds 4
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import torch
import torch._inductor.config
import torch.nn.functional as F
from transformers.models.llama import modeling_llama

from likra.data.selection import eval_items
from likra.model.load import load_base
from likra.model.precision import result_path
from likra.score.scorer import score_items

NOTES = Path(__file__).resolve().parent  # results beside this script: docs/notes/<what>_<machine>_<date>.json

EAGER = {
    "norm": modeling_llama.LlamaRMSNorm.forward,
    "rope": modeling_llama.apply_rotary_pos_emb,
    "mlp": modeling_llama.LlamaMLP.forward,
}


@torch.compile(dynamic=True)
def _rms_norm(x: torch.Tensor, weight: torch.Tensor, eps: float) -> torch.Tensor:
    h = x.to(torch.float32)
    h = h * torch.rsqrt(h.pow(2).mean(-1, keepdim=True) + eps)
    return weight * h.to(x.dtype)


@torch.compile(dynamic=True)
def _silu_mul(gate: torch.Tensor, up: torch.Tensor) -> torch.Tensor:
    return F.silu(gate) * up


def _norm_forward(self, x: torch.Tensor) -> torch.Tensor:  # the weight is an input: no per-module recompile
    return _rms_norm(x, self.weight, self.variance_epsilon)


def _mlp_forward(self, x: torch.Tensor) -> torch.Tensor:
    return self.down_proj(_silu_mul(self.gate_proj(x), self.up_proj(x)))


COMPILED = {
    "norm": _norm_forward,
    "rope": torch.compile(EAGER["rope"], dynamic=True),
    "mlp": _mlp_forward,
}


def use_compiled(on: bool) -> None:
    modeling_llama.LlamaRMSNorm.forward = COMPILED["norm"] if on else EAGER["norm"]
    modeling_llama.apply_rotary_pos_emb = COMPILED["rope"] if on else EAGER["rope"]
    modeling_llama.LlamaMLP.forward = COMPILED["mlp"] if on else EAGER["mlp"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--limit", type=int, default=300, help="ARC-Challenge test items")
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument(
        "--emulate-precision-casts",
        action="store_true",
        help="make inductor round to bf16 where eager does (torch._inductor.config.emulate_precision_casts)",
    )
    parser.add_argument(
        "--out", type=Path, help="default: docs/notes/compile_elementwise_ab[_emulate_casts]_<machine>_<date>.json"
    )
    args = parser.parse_args()
    torch._inductor.config.emulate_precision_casts = args.emulate_precision_casts
    items = eval_items("arc_challenge", "test", args.limit, 0)

    def score(base) -> tuple[float, list[float]]:
        started = time.perf_counter()
        rows, _ = score_items(base.model, base.tokenizer, items, ("base",), max_length=base.max_length, progress=False)
        return time.perf_counter() - started, [c["base"] for row in rows for c in row["choices"]]

    bf16 = load_base("smollm2-135m", dtype="bf16")
    use_compiled(False)
    eager_cold, eager = score(bf16)
    use_compiled(True)
    compiled_first, compiled = score(bf16)  # includes compiling
    times: dict[str, list[float]] = {"eager": [], "compiled": []}
    for _ in range(args.rounds):
        for name in times:
            use_compiled(name == "compiled")
            times[name].append(round(score(bf16)[0], 3))
    use_compiled(False)
    fp32 = load_base("smollm2-135m", dtype="fp32")
    _, reference = score(fp32)

    def distance(values: list[float]) -> dict:
        gaps = [abs(a - b) for a, b in zip(values, reference)]
        return {
            "mean": round(statistics.mean(gaps), 4),
            "median": round(statistics.median(gaps), 4),
            "max": round(max(gaps), 3),
        }

    between = [abs(a - b) for a, b in zip(eager, compiled)]
    result = {
        "items": len(items),
        "emulate_precision_casts": args.emulate_precision_casts,
        "choices": len(reference),
        "torch": torch.__version__,
        "torch_threads": torch.get_num_threads(),
        "eager_cold_s": round(eager_cold, 2),
        "compiled_first_pass_s_with_compile": round(compiled_first, 2),
        "warm_seconds": times,
        "warm_median_s": {name: statistics.median(values) for name, values in times.items()},
        "compiled_vs_eager_loglik": {"mean": round(statistics.mean(between), 4), "max": round(max(between), 3)},
        "vs_fp32_loglik": {"eager bf16": distance(eager), "compiled bf16": distance(compiled)},
        "measured_at": time.strftime("%Y-%m-%dT%H:%M:%S"),
    }
    print(json.dumps(result, indent=1))
    what = "compile_elementwise_ab_emulate_casts" if args.emulate_precision_casts else "compile_elementwise_ab"
    out = args.out or result_path(what, NOTES, device=bf16.device)
    out.write_text(json.dumps(result, indent=1) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
