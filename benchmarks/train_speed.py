"""Training speed: likra's HeadTrainer (packed sequences) vs a plain peft loop (padded batches).

Both train one LoRA head (the reference's r=8, alpha=8, MLP projections; AdamW, constant lr,
gradient clipping 1.0) for N optimiser steps on the same examples -- the positives of the first
N x batch ARC training questions -- with the same LoRA initialisation (same seed). The plain
loop is what one would write with transformers + peft: right-padded batches through
``model(input_ids, attention_mask, labels)`` with label -100 on the context and the padding.
Prints examples/s and tokens/s (real, non-padding tokens) and the ratio, and checks that the
two compute the same loss (first step, before any update, within 1e-4; 1e-2 in bf16). likra's
loop recomputes activations in backward (activation checkpointing, its default); the plain loop
does not. Writes
``benchmarks/results/train_speed_<dtype>_<machine>_<date>.json``.

Both also get an achieved *useful* training GFLOP/s (``likra.lm.flops``): 2 x (the real
input tokens x 2 x non-embedding parameters, plus the LM head at the answer-token predictors,
the only positions the loss reads), forward plus the input-gradient backward through the
frozen weights, divided by each loop's time. The work is the same for both; the plain loop
also pays for padding and for logits at every position. Beside them: this machine's measured
CPU matmul rate for the dtype used (``benchmarks/matmul_rate.py``, same process, after the
training runs) and each loop's fraction of it.

    python benchmarks/train_speed.py --steps 3 --batch-size 32
    python benchmarks/train_speed.py --steps 3 --batch-size 32 --dtype bf16

``--methods likra,sft,unlikelihood,dpo,kto`` instead times every training method on the same
batches of questions (``first`` negatives, each method's default learning rate), in one process:
seconds per optimiser step (median over steps, from each run's train_log), the one-off setup
(adapter, dataset, TRL's reference log-probabilities for DPO/KTO) and the whole ``likra train``
call, each as a ratio to likra's two heads; DPO and KTO also once more on TRL's own CPU path
(every position projected by the LM head, not only the completions, and its own tile width and
model hash: see ``likra.training.preference.lean_trl_on_cpu``). Writes ``benchmarks/results/method_speed_<dtype>_<machine>_<date>.json``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import platform
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import torch

from likra.data.pairs import build_pairs
from likra.data.selection import load_items, training_items
from likra.lm.flops import non_embedding_params, training_flops
from likra.lm.tokenize import encode_requests
from likra.methods import PREFERENCE_METHODS
from likra.model.heads import LoraSettings, attach_heads, lora_config
from likra.model.load import load_base
from likra.model.precision import DTYPE_CHOICES, dtype_name, result_path, write_result
from likra.training.loop import HeadTrainer, LossTerm, TrainSettings, set_activation_checkpointing

try:  # run as a script, this folder is on sys.path; imported from the repo root, it is a package
    from matmul_rate import matmul_rate
except ImportError:
    from benchmarks.matmul_rate import matmul_rate

RESULTS = Path(__file__).resolve().parent / "results"


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def likra_steps(base, batches, settings: TrainSettings, seed: int) -> dict:
    torch.manual_seed(seed)
    peft_model = attach_heads(base.model, LoraSettings(), names=("pos",))
    trainer = HeadTrainer(peft_model, base.tokenizer, "pos", settings, base.max_length)
    losses, times, tokens, answer_tokens = [], [], 0, 0
    try:
        for batch in batches:
            sync(base.device)
            started = time.perf_counter()
            result = trainer.step([LossTerm(batch)])
            sync(base.device)
            times.append(time.perf_counter() - started)
            losses.append(result["loss"])
            tokens += result["input_tokens"]
            answer_tokens += result["answer_tokens"]
    finally:
        set_activation_checkpointing(peft_model, False)  # the plain loop runs as peft users run it
        peft_model.unload()
    return {"losses": losses, "step_seconds": times, "input_tokens": tokens, "answer_tokens": answer_tokens}


def plain_peft_steps(base, batches, settings: TrainSettings, seed: int) -> dict:
    from peft import get_peft_model

    torch.manual_seed(seed)
    model = get_peft_model(base.model, lora_config(LoraSettings()))
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=settings.lr, weight_decay=settings.weight_decay)
    pad = base.tokenizer.pad_token_id
    losses, times, tokens, padded = [], [], 0, 0
    try:
        for batch in batches:
            sync(base.device)
            started = time.perf_counter()
            encoded = encode_requests(base.tokenizer, [(e.context, e.answer) for e in batch], base.max_length)
            width = max(len(e.context) + len(e.continuation) for e in encoded)
            input_ids = torch.full((len(encoded), width), pad, dtype=torch.long)
            labels = torch.full((len(encoded), width), -100, dtype=torch.long)
            attention = torch.zeros((len(encoded), width), dtype=torch.long)
            for row, e in enumerate(encoded):
                ids = list(e.context) + list(e.continuation)
                input_ids[row, : len(ids)] = torch.tensor(ids)
                labels[row, len(e.context) : len(ids)] = torch.tensor(e.continuation)
                attention[row, : len(ids)] = 1
                tokens += len(ids)
            padded += input_ids.numel()
            model.train()
            optimizer.zero_grad(set_to_none=True)
            out = model(
                input_ids=input_ids.to(base.device),
                attention_mask=attention.to(base.device),
                labels=labels.to(base.device),
            )
            out.loss.backward()
            torch.nn.utils.clip_grad_norm_(params, settings.max_grad_norm)
            optimizer.step()
            sync(base.device)
            times.append(time.perf_counter() - started)
            losses.append(float(out.loss.detach()))
    finally:
        model.eval()
        model.unload()
    return {"losses": losses, "step_seconds": times, "input_tokens": tokens, "padded_tokens": padded}


def method_steps(base, method: str, questions: int, batch_size: int, seed: int, run_dir: Path) -> dict:
    """Train ``method`` on the first ``questions`` questions; its step times and whole wall time."""
    import statistics

    from likra.io import read_jsonl
    from likra.training.presets import default_lr
    from likra.training.run import train

    settings = TrainSettings(lr=default_lr(method), batch_size=batch_size, seed=seed)
    started = time.perf_counter()
    train(run_dir, max_questions=questions, settings=settings, loaded=base, progress=False, method=method)
    wall = time.perf_counter() - started
    log = read_jsonl(run_dir / "train_log.jsonl")
    steps = [row["seconds"] for row in log]
    return {
        "lr": settings.lr,
        "steps": len(steps),
        "step_seconds": steps,
        "median_step_seconds": round(statistics.median(steps), 3),
        "sequences_per_step": round(sum(row["examples"] for row in log) / len(log), 1),
        "setup_seconds": round(wall - sum(steps), 2),
        "wall_seconds": round(wall, 2),
    }


@contextlib.contextmanager
def trls_own_lm_head() -> Iterator[None]:
    """Train DPO/KTO without likra's CPU adjustments, i.e. on TRL's own CPU path."""
    from likra.training import preference

    lean = preference.lean_trl_on_cpu
    preference.lean_trl_on_cpu = contextlib.nullcontext
    try:
        yield
    finally:
        preference.lean_trl_on_cpu = lean


def compare_methods(args) -> None:
    import tempfile

    base = load_base(args.model, device=args.device, dtype=args.dtype)
    methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    if "likra" not in methods:
        methods.insert(0, "likra")
    questions = args.steps * args.batch_size
    runs = {}
    with tempfile.TemporaryDirectory() as tmp:
        for method in methods:
            runs[method] = method_steps(base, method, questions, args.batch_size, args.seed, Path(tmp) / method)
            print(json.dumps({"method": method, **{k: v for k, v in runs[method].items() if k != "step_seconds"}}))
        for method in [m for m in methods if m in PREFERENCE_METHODS]:
            # The same run with TRL's own LM-head path on CPU (every position projected): what
            # likra.training.preference.lean_trl_on_cpu saves, in the same process.
            name = f"{method} (TRL all-position head)"
            with trls_own_lm_head():
                runs[name] = method_steps(base, method, questions, args.batch_size, args.seed, Path(tmp) / name)
            print(json.dumps({"method": name, **{k: v for k, v in runs[name].items() if k != "step_seconds"}}))
    likra = runs["likra"]
    for run in runs.values():
        run["step_vs_likra"] = round(run["median_step_seconds"] / likra["median_step_seconds"], 3)
        run["wall_vs_likra"] = round(run["wall_seconds"] / likra["wall_seconds"], 3)
    result = {
        "model": args.model,
        "device": str(base.device),
        "dtype": dtype_name(base.dtype),
        "torch_threads": torch.get_num_threads(),
        "platform": platform.platform(),
        "questions": questions,
        "batch_size": args.batch_size,
        "negatives": "first",
        "methods": runs,
        "measured_at": time.strftime("%Y-%m-%dT%H:%M:%S"),
    }
    print(f"{'method':32s} {'s/step':>8s} {'x likra':>8s} {'setup s':>8s} {'wall s':>8s} {'x likra':>8s}")
    for method, run in runs.items():
        print(
            f"{method:32s} {run['median_step_seconds']:8.2f} {run['step_vs_likra']:8.2f} "
            f"{run['setup_seconds']:8.1f} {run['wall_seconds']:8.1f} {run['wall_vs_likra']:8.2f}"
        )
    write_result(result, args.out or result_path(f"method_speed_{dtype_name(base.dtype)}", RESULTS, device=base.device))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="smollm2-135m")
    parser.add_argument("--task", default="arc")
    parser.add_argument("--split", default="train")
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--device", default=None)
    parser.add_argument("--dtype", default="fp32", choices=DTYPE_CHOICES, help="model dtype (load_base's)")
    parser.add_argument(
        "--out",
        type=Path,
        default=None,
        help="default: benchmarks/results/{train,method}_speed_<dtype>_<machine>_<date>.json",
    )
    parser.add_argument("--methods", default=None, help="time these training methods instead (see above)")
    args = parser.parse_args()
    if args.methods:
        compare_methods(args)
        return

    base = load_base(args.model, device=args.device, dtype=args.dtype)
    dtype = dtype_name(base.dtype)
    settings = TrainSettings(lr=args.lr, batch_size=args.batch_size, seed=args.seed)
    n = args.steps * args.batch_size
    pairs = build_pairs(training_items(load_items(args.task, args.split), args.seed, n), "first", args.seed)
    examples = [p.positive for p in pairs]
    batches = [examples[i : i + args.batch_size] for i in range(0, n, args.batch_size)]

    ours = likra_steps(base, batches, settings, args.seed)
    theirs = plain_peft_steps(base, batches, settings, args.seed)

    # Useful work, the same for both loops: likra's real input tokens, the head at answer predictors.
    useful_gflop = training_flops(base.model, ours["input_tokens"], ours["answer_tokens"]) / 1e9
    # The CPU's matmul rate (meaningless for a GPU run), at the thread count the training used.
    peak = matmul_rate(base.dtype) if base.device.type == "cpu" else None

    def rates(run: dict) -> dict:
        seconds = sum(run["step_seconds"])
        achieved = useful_gflop / seconds
        return {
            "seconds": round(seconds, 3),
            "examples_per_s": round(n / seconds, 2),
            "tokens_per_s": round(run["input_tokens"] / seconds, 1),
            "step_seconds": [round(s, 3) for s in run["step_seconds"]],
            "losses": run["losses"],
            "gflops_per_s": round(achieved, 2),
            "fraction_of_matmul_rate": round(achieved / peak, 4) if peak else None,
        }

    first_diff = abs(ours["losses"][0] - theirs["losses"][0])
    result = {
        "model": args.model,
        "device": str(base.device),
        "dtype": dtype,
        "dtype_requested": args.dtype,
        "torch_threads": torch.get_num_threads(),
        "platform": platform.platform(),
        "steps": args.steps,
        "batch_size": args.batch_size,
        "examples": n,
        "real_tokens": ours["input_tokens"],
        "padded_tokens_plain": theirs["padded_tokens"],
        "answer_tokens": ours["answer_tokens"],
        "useful_flops": {
            "non_embedding_params": non_embedding_params(base.model),
            "input_tokens": ours["input_tokens"],
            "scored_positions": ours["answer_tokens"],
            "gflop": round(useful_gflop, 3),
        },
        "matmul_rate_gflops_per_s": round(peak, 1) if peak else None,
        "likra": rates(ours),
        "plain_peft": rates(theirs),
        "speedup": round(sum(theirs["step_seconds"]) / sum(ours["step_seconds"]), 3),
        "first_step_loss_diff": first_diff,
        "max_loss_diff": max(abs(a - b) for a, b in zip(ours["losses"], theirs["losses"])),
        # bf16 rounds differently in the two loops' kernels; fp32 must agree to 1e-4.
        "losses_agree": first_diff <= (1e-4 if base.dtype == torch.float32 else 1e-2),
        "measured_at": time.strftime("%Y-%m-%dT%H:%M:%S"),
    }
    print(
        f"{n} examples ({args.steps} steps x {args.batch_size}) on {base.device} ({dtype}); "
        f"{ours['input_tokens']} real tokens, plain loop pads to {theirs['padded_tokens']}; "
        f"useful work {useful_gflop:.1f} GFLOP ({ours['answer_tokens']} answer tokens)"
    )
    for name in ("likra", "plain_peft"):
        r = result[name]
        share = f", {r['fraction_of_matmul_rate']:.1%} of matmul rate" if peak else ""
        print(
            f"{name:10s}: {r['examples_per_s']:7.2f} examples/s {r['tokens_per_s']:9.1f} tokens/s "
            f"{r['gflops_per_s']:7.2f} useful GFLOP/s{share} "
            f"({r['seconds']:.1f} s; losses {', '.join(f'{x:.5f}' for x in r['losses'])})"
        )
    print(
        f"matmul rate ({dtype}, {torch.get_num_threads()} threads): "
        f"{f'{peak:.1f} GFLOP/s' if peak else 'n/a (not a CPU run)'}"
    )
    print(
        f"speed-up: {result['speedup']:.2f}x   first-step loss diff {first_diff:.2e} "
        f"({'OK' if result['losses_agree'] else 'MISMATCH'}), max over steps {result['max_loss_diff']:.2e}"
    )
    write_result(result, args.out or result_path(f"train_speed_{dtype}", RESULTS, device=base.device))
    if not result["losses_agree"]:
        sys.exit(1)


if __name__ == "__main__":
    main()
