"""Which training settings would make likra's bf16 training step faster? Timed in turns, one process.

One head of SmolLM2 (likra's HeadTrainer, bf16) trains on the same batches of 32 ARC questions
under each setting named on the command line, the settings taking turns for ``--rounds`` rounds
after one warm-up turn each (this machine's speed drifts within minutes, so turns beat
back-to-back runs). Prints the median seconds per step of each. Flags of a setting, comma-joined:

- ``nockpt``: no activation checkpointing (keeps activations: faster, more memory);
- ``row128``: pack training rows of at most 128 tokens instead of 512 (less attention work);
- ``math``: PyTorch's plain (math) attention instead of the CPU flash-attention kernel;
- ``ac``: CPU autocast to bf16, so peft's fp32 LoRA path runs its matmuls in bf16;
- ``trim``: glibc ``malloc_trim`` after each step (what likra does since 2026-11-30);
- ``base``: none of these (what likra did before that).

    python docs/notes/train_settings_ab.py base row128,math nockpt,row128,math,ac --rounds 3
"""

from __future__ import annotations

import argparse
import contextlib
import json
import statistics
import time
from pathlib import Path

import torch
from peft.helpers import disable_input_dtype_casting
from torch.nn.attention import SDPBackend, sdpa_kernel

import likra.training.loop as training_loop
from likra.data.pairs import build_pairs
from likra.data.selection import load_items, training_items
from likra.model.heads import LoraSettings, attach_heads
from likra.model.load import load_base
from likra.model.precision import result_path
from likra.training.loop import HeadTrainer, LossTerm, TrainSettings, set_activation_checkpointing

NOTES = Path(__file__).resolve().parent  # results beside this script: docs/notes/<what>_<machine>_<date>.json
FLAGS = {"base", "nockpt", "row128", "math", "ac", "trim"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("settings", nargs="+", help="comma-joined flags, e.g. nockpt,row128,math")
    parser.add_argument("--steps", type=int, default=4, help="steps of 32 questions per turn")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--out", type=Path, help="default: docs/notes/train_settings_ab_<machine>_<date>.json")
    args = parser.parse_args()
    settings = {name: set(name.split(",")) for name in args.settings}
    for name, flags in settings.items():
        if flags - FLAGS:
            parser.error(f"unknown flag(s) {sorted(flags - FLAGS)} in '{name}'; known: {sorted(FLAGS)}")

    base = load_base("smollm2-135m", dtype="bf16")
    n = args.steps * 32
    pairs = build_pairs(training_items(load_items("arc", "train"), 42, n), "first", 42)
    examples = [p.positive for p in pairs]
    batches = [examples[i : i + 32] for i in range(0, n, 32)]
    torch.manual_seed(42)
    peft_model = attach_heads(base.model, LoraSettings(), names=("pos",))
    trainer = HeadTrainer(peft_model, base.tokenizer, "pos", TrainSettings(), base.max_length)
    row_tokens = training_loop.ROW_TOKENS

    def seconds_per_step(flags: set[str]) -> float:
        training_loop.ROW_TOKENS = 128 if "row128" in flags else row_tokens
        set_activation_checkpointing(peft_model, "nockpt" not in flags)
        trim = training_loop.release_freed_memory
        with contextlib.ExitStack() as stack:
            if "math" in flags:
                stack.enter_context(sdpa_kernel(SDPBackend.MATH))
            if "ac" in flags:
                stack.enter_context(torch.autocast("cpu", dtype=torch.bfloat16))
                stack.enter_context(disable_input_dtype_casting(peft_model))
            if "trim" not in flags:
                training_loop.release_freed_memory = lambda: False
            try:
                started = time.perf_counter()
                for batch in batches:
                    trainer.step([LossTerm(batch)])
                return (time.perf_counter() - started) / len(batches)
            finally:
                training_loop.release_freed_memory = trim

    for flags in settings.values():
        seconds_per_step(flags)  # warm-up: kernels compiled for these shapes
    times: dict[str, list[float]] = {name: [] for name in settings}
    for _ in range(args.rounds):
        for name, flags in settings.items():
            times[name].append(round(seconds_per_step(flags), 3))
    for name, values in times.items():
        print(f"{name:32s} median {statistics.median(values):.3f} s/step  {values}")
    medians = {name: statistics.median(values) for name, values in times.items()}
    out = args.out or result_path("train_settings_ab", NOTES, device=base.device)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"seconds_per_step": times, "median": medians}, indent=1) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
