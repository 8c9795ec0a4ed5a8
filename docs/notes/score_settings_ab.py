"""Which scoring settings make likra's packed scorer fastest? Timed in turns, one process.

The base model scores every choice of the same ARC-Challenge test items under each setting named
on the command line. The settings take turns for ``--rounds`` rounds, after one untimed warm-up
pass each: likra scores the same items at every checkpoint and for every head, so a warm pass
(oneDNN kernels already made for these shapes) is what a run mostly sees; this machine's speed
drifts within minutes, so turns beat back-to-back runs. Prints the median seconds per pass, the
useful GFLOP/s (``likra.lm.flops``) and its share of the matmul rate. The matmul rate is
measured right after every pass (under a second) and each pass is divided by its own: on this
machine the same GEMM has measured anywhere from 800 to 2,300 GFLOP/s within minutes, so one rate
for the whole run would make the share mostly noise. Flags of a setting, comma-joined:

- ``rowN``: pack rows of at most N input tokens (likra's default: ``ROW_TOKENS``);
- ``btN``: at most N padded tokens per forward pass (default: ``BATCH_TOKENS``);
- ``math``: PyTorch's plain (math) attention instead of the CPU flash-attention kernel;
- ``default``: none of these.

    python docs/notes/score_settings_ab.py default row256 row256,bt8192 --limit 300 --rounds 3
    python docs/notes/score_settings_ab.py default --profile   # where a warm pass spends its time
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import json
import statistics
import time
from pathlib import Path

import torch
from torch.nn.attention import SDPBackend, sdpa_kernel

from likra.data.selection import eval_items
from likra.lm.flops import forward_flops
from likra.lm.packing import BATCH_TOKENS, ROW_TOKENS
from likra.model.load import load_base
from likra.model.precision import result_path
from likra.score.scorer import score_items


def _load_matmul_rate():
    # By path: this script runs as ``python docs/notes/...``, where ``benchmarks`` is no package.
    path = Path(__file__).resolve().parents[2] / "benchmarks" / "matmul_rate.py"
    spec = importlib.util.spec_from_file_location("matmul_rate", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.matmul_rate


matmul_rate = _load_matmul_rate()

NOTES = Path(__file__).resolve().parent  # results beside this script: docs/notes/<what>_<machine>_<date>.json


def parse_setting(name: str) -> dict:
    """``row256,bt8192,math`` -> {"row_tokens": 256, "batch_tokens": 8192, "math": True}."""
    setting = {"row_tokens": ROW_TOKENS, "batch_tokens": BATCH_TOKENS, "math": False}
    for flag in name.split(","):
        if flag == "default":
            continue
        if flag == "math":
            setting["math"] = True
        elif flag.startswith("row") and flag[3:].isdigit():
            setting["row_tokens"] = int(flag[3:])
        elif flag.startswith("bt") and flag[2:].isdigit():
            setting["batch_tokens"] = int(flag[2:])
        else:
            raise ValueError(f"unknown flag '{flag}' in '{name}' (rowN, btN, math, default)")
    return setting


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("settings", nargs="+", help="comma-joined flags, e.g. row256,bt8192")
    parser.add_argument("--model", default="smollm2-135m")
    parser.add_argument("--dtype", default="bf16")
    parser.add_argument("--limit", type=int, default=300, help="ARC-Challenge test items")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--profile", action="store_true", help="print torch.profiler's top ops of one warm pass each")
    parser.add_argument("--out", type=Path, help="default: docs/notes/score_settings_ab_<machine>_<date>.json")
    args = parser.parse_args()
    try:
        settings = {name: parse_setting(name) for name in args.settings}
    except ValueError as error:
        parser.error(str(error))

    base = load_base(args.model, dtype=args.dtype)
    items = eval_items("arc_challenge", "test", args.limit, 0)

    def one_pass(setting: dict) -> tuple[float, float]:
        """Seconds of one scoring pass and its useful GFLOP."""
        with sdpa_kernel(SDPBackend.MATH) if setting["math"] else contextlib.nullcontext():
            started = time.perf_counter()
            rows, stats = score_items(
                base.model,
                base.tokenizer,
                items,
                ("base",),
                max_length=base.max_length,
                row_tokens=setting["row_tokens"],
                batch_tokens=setting["batch_tokens"],
                progress=False,
            )
            seconds = time.perf_counter() - started
        scored = sum(c["n_tokens"] for row in rows for c in row["choices"])
        return seconds, forward_flops(base.model, stats.input_tokens, scored) / 1e9

    cold = {name: round(one_pass(setting)[0], 3) for name, setting in settings.items()}  # also the warm-up
    if args.profile:
        from torch.profiler import ProfilerActivity, profile

        for name, setting in settings.items():
            with profile(activities=[ProfilerActivity.CPU]) as prof:
                one_pass(setting)
            print(f"== {name}")
            print(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=15))
    times: dict[str, list[float]] = {name: [] for name in settings}
    peaks: dict[str, list[float]] = {name: [] for name in settings}  # the matmul rate right after each pass
    gflop: dict[str, float] = {}
    for _ in range(args.rounds):
        for name, setting in settings.items():
            seconds, gflop[name] = one_pass(setting)
            times[name].append(round(seconds, 3))
            peaks[name].append(round(matmul_rate(base.dtype), 1))
    result: dict = {
        "model": args.model,
        "dtype": args.dtype,
        "items": len(items),
        "torch_threads": torch.get_num_threads(),
        "settings": {},
        "measured_at": time.strftime("%Y-%m-%dT%H:%M:%S"),
    }
    for name, values in times.items():
        median = statistics.median(values)
        rate = gflop[name] / median
        shares = [gflop[name] / seconds / peak for seconds, peak in zip(values, peaks[name])]
        result["settings"][name] = {
            **settings[name],
            "cold_seconds": cold[name],
            "seconds": values,
            "median_seconds": median,
            "useful_gflop": round(gflop[name], 2),
            "useful_gflops_per_s": round(rate, 1),
            "matmul_rate_after_each_pass": peaks[name],
            "fraction_of_matmul_rate_per_pass": [round(x, 4) for x in shares],
            "median_fraction_of_matmul_rate": round(statistics.median(shares), 4),
        }
        print(
            f"{name:24s} cold {cold[name]:6.2f} s  warm median {median:6.2f} s {values}  "
            f"{rate:7.1f} useful GFLOP/s; share of the matmul rate after each pass: median "
            f"{statistics.median(shares):.1%} (matmul {min(peaks[name]):.0f}-{max(peaks[name]):.0f} GFLOP/s)"
        )
    out = args.out or result_path("score_settings_ab", NOTES, device=base.device)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=1) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
