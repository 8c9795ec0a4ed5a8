"""Generation speed: likra's decoding modes vs transformers' own ``generate`` with one adapter.

Same model object, same prompts (the first ARC-Challenge test questions, as likra formats them
without choices), same ``max_new_tokens``, greedy, one batch, in one process. Every row runs
exactly ``max_new_tokens`` tokens (EOS does not stop it: transformers gets ``eos_token_id=None``,
likra ``stop_at_eos=False``), so every configuration does the same number of steps. The runs
take turns (round robin) and each configuration's median over the repeats is kept, so a machine
shared with other jobs slows them alike; the ratios to transformers' ``generate`` are the result.

Heads: a run's checkpoint (``--run``), or two random LoRA heads (B ~ N(0, std)) on the model;
speed does not depend on the weights' values. Both two-head modes run both ways: one cached
forward per variant (``separate``), or one forward over a mixed-adapter batch (``batched``).
likra ``pos`` greedy must give transformers' tokens (checked; the run fails otherwise).

    python benchmarks/generation_speed.py                     # SmolLM2-135M, 8 prompts, 32 tokens
    python benchmarks/generation_speed.py --run runs/arc --prompts 16 --repeats 5
    python benchmarks/generation_speed.py --threads 1 --note "2 cores shared with other jobs"
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time
from pathlib import Path

import torch

from likra.generation import GenerateSettings, Generator, Target
from likra.generation.run import resolve_target, task_items
from likra.model.heads import HEADS, attach_heads
from likra.model.load import load_base
from likra.model.precision import result_path, write_result
from likra.model.resolve import DEFAULT_MODEL

RESULTS = Path(__file__).resolve().parent / "results"
# (name, mode, strategy); transformers' generate is timed beside them.
CONFIGS = [
    ("likra pos", "pos", "separate"),
    ("likra contrastive (separate)", "contrastive", "separate"),
    ("likra contrastive (batched)", "contrastive", "batched"),
    ("likra experts (separate)", "experts", "separate"),
    ("likra experts (batched)", "experts", "batched"),
    ("likra rerank k=4", "rerank", "batched"),
]


def cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def random_heads_generator(model: str, device: str | None, std: float, seed: int) -> Generator:
    loaded = load_base(model, device=device, dtype="fp32")
    peft_model = attach_heads(loaded.model)
    generator = torch.Generator().manual_seed(seed)
    for name, param in peft_model.named_parameters():
        if "lora_B" in name:
            param.data = (torch.randn(param.shape, generator=generator) * std).to(param.device)
    peft_model.eval()
    return Generator(Target(model=model, heads=HEADS, checkpoint=f"random lora_B ~ N(0, {std})"), loaded, peft_model)


def time_transformers(generator: Generator, prompts: list[str], max_new_tokens: int) -> tuple[float, list[list[int]]]:
    """transformers' greedy ``generate`` on the PeftModel with the pos adapter active."""
    tokenizer, model = generator.tokenizer, generator.model
    tokenizer.padding_side = "left"
    batch = tokenizer(prompts, return_tensors="pt", padding=True).to(generator.device)
    model.set_adapter("pos")
    started = time.perf_counter()
    with torch.inference_mode():
        output = model.generate(
            **batch,
            max_new_tokens=max_new_tokens,
            do_sample=False,
            eos_token_id=None,
            pad_token_id=tokenizer.pad_token_id,
        )
    seconds = time.perf_counter() - started
    return seconds, output[:, batch["input_ids"].shape[1] :].tolist()


def time_likra(generator: Generator, prompts: list[str], mode: str, strategy: str, max_new_tokens: int):
    settings = GenerateSettings(mode=mode, max_new_tokens=max_new_tokens)
    started = time.perf_counter()
    outputs = generator.generate(prompts, settings, batch_size=len(prompts), strategy=strategy, stop_at_eos=False)
    return time.perf_counter() - started, [o.tokens for o in outputs]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--run", help="a likra run directory (default: random heads on --model)")
    parser.add_argument("--checkpoint", default="final")
    parser.add_argument("--model", default=DEFAULT_MODEL)
    parser.add_argument("--task", default="arc_challenge")
    parser.add_argument("--split", default="test")
    parser.add_argument("--prompts", type=int, default=8)
    parser.add_argument("--max-new-tokens", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--std", type=float, default=0.02, help="std of the random heads' B")
    parser.add_argument("--device", default=None)
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's)")
    parser.add_argument("--note", default="", help="a note stored with the results (e.g. the machine's load)")
    parser.add_argument(
        "--out", type=Path, default=None, help="default: benchmarks/results/generation_speed_<machine>_<date>.json"
    )
    args = parser.parse_args()

    if args.threads:
        torch.set_num_threads(args.threads)
    prompts = [item.contexts[0] for item in task_items(args.task, args.split, args.prompts)]
    if args.run:
        generator = Generator.load(resolve_target(args.run, args.checkpoint), device=args.device, dtype="fp32")
    else:
        generator = random_heads_generator(args.model, args.device, args.std, seed=0)
    n = args.max_new_tokens
    load_before = os.getloadavg()

    # One untimed pass of each (allocations, lazy initialisation), then round robin.
    _, reference = time_transformers(generator, prompts, n)
    for _, mode, strategy in CONFIGS:
        time_likra(generator, prompts, mode, strategy, n)
    times: dict[str, list[float]] = {"transformers generate (pos adapter)": []}
    times |= {name: [] for name, _, _ in CONFIGS}
    for repeat in range(args.repeats):
        seconds, tokens = time_transformers(generator, prompts, n)
        assert tokens == reference
        times["transformers generate (pos adapter)"].append(seconds)
        for name, mode, strategy in CONFIGS:
            seconds, tokens = time_likra(generator, prompts, mode, strategy, n)
            if mode == "pos":
                assert tokens == reference, "likra pos greedy differs from transformers' generate"
            assert all(len(t) == n for t in tokens)
            times[name].append(seconds)
        print(f"repeat {repeat + 1}/{args.repeats} done", flush=True)

    generated = len(prompts) * n
    baseline = statistics.median(times["transformers generate (pos adapter)"])
    rows = []
    for name, seconds in times.items():
        median = statistics.median(seconds)
        rows.append(
            {
                "name": name,
                "seconds": round(median, 3),
                "all_seconds": [round(s, 3) for s in seconds],
                "tokens": generated,
                "tokens_per_s": round(generated / median, 1),
                "ratio_to_transformers": round(baseline / median, 3),
            }
        )
    print(f"\n{len(prompts)} prompts x {n} new tokens, greedy; median of {args.repeats}")
    print(f"{'configuration':40s} {'s':>7s} {'tok/s':>7s} {'ratio':>6s}")
    for row in rows:
        print(f"{row['name']:40s} {row['seconds']:7.2f} {row['tokens_per_s']:7.1f} {row['ratio_to_transformers']:6.2f}")
    result = {
        "measured_at": time.strftime("%Y-%m-%dT%H:%M:%S"),
        "cpu": cpu_name(),
        "device": str(generator.device),
        "torch_threads": torch.get_num_threads(),
        "load_average_before_after": [round(load_before[0], 2), round(os.getloadavg()[0], 2)],
        "note": args.note,
        "model": generator.target.model,
        "heads": generator.target.run or generator.target.checkpoint,
        "checkpoint": generator.target.checkpoint,
        "dtype": str(generator.loaded.dtype).replace("torch.", ""),
        "task": f"{args.task} {args.split}, first {len(prompts)} questions",
        "prompts": len(prompts),
        "max_new_tokens": n,
        "repeats": args.repeats,
        "pos_equals_transformers": True,
        "results": rows,
        "versions": {m: __import__(m).__version__ for m in ("torch", "transformers", "peft")},
    }
    write_result(result, args.out or result_path("generation_speed", RESULTS, device=generator.device))


if __name__ == "__main__":
    main()
