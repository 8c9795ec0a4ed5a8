"""Achieved torch matmul rate (GFLOP/s) on this CPU, fp32 vs bf16, at the current thread count.

Square GEMMs (1024, 2048) show the kernel's peak; the model-shaped cases are SmolLM2-135M's
MLP projections on a 2048-token batch (hidden 576 <-> intermediate 1536) through
``F.linear``, which is what the scorer actually runs. Each case: warm-up, then the median of
timed repeats. Writes ``benchmarks/results/matmul_rate_<machine>_<date>.json``.

    python benchmarks/matmul_rate.py                 # torch's default thread count
    python benchmarks/matmul_rate.py --threads 1

Other scripts: ``from benchmarks.matmul_rate import matmul_rate`` (from the repo root) or load
this file by path; ``matmul_rate(torch.bfloat16)`` returns the best GFLOP/s over the shapes.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import statistics
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import torch

# name -> (m, k, n): an (m x k) input times a (k x n) weight, 2*m*k*n flops.
SHAPES: dict[str, tuple[int, int, int]] = {
    "square_1024": (1024, 1024, 1024),
    "square_2048": (2048, 2048, 2048),
    "mlp_up_2048x576->1536": (2048, 576, 1536),
    "mlp_down_2048x1536->576": (2048, 1536, 576),
}
_DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16}
_FLAGS_OF_INTEREST = ("avx2", "avx512f", "avx512_bf16", "avx512_fp16", "amx_tile", "amx_bf16", "amx_fp16")


@contextlib.contextmanager
def torch_threads(threads: int | None) -> Iterator[int]:
    """Run with ``threads`` intra-op threads (None: leave as is), restoring the old count after."""
    before = torch.get_num_threads()
    if threads is not None:
        torch.set_num_threads(threads)
    try:
        yield torch.get_num_threads()
    finally:
        torch.set_num_threads(before)


def _as_dtype(dtype: torch.dtype | str) -> torch.dtype:
    return _DTYPES[dtype] if isinstance(dtype, str) else dtype


def shape_rate(m: int, k: int, n: int, dtype: torch.dtype, repeats: int = 7, warmup: int = 2) -> float:
    """Median GFLOP/s of ``F.linear`` for an (m x k) input and a (n x k) weight."""
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(m, k, generator=generator).to(dtype)
    w = torch.randn(n, k, generator=generator).to(dtype)
    for _ in range(warmup):  # first calls pay oneDNN primitive creation and page faults
        torch.nn.functional.linear(x, w)
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        torch.nn.functional.linear(x, w)
        times.append(time.perf_counter() - started)
    return 2.0 * m * k * n / statistics.median(times) / 1e9


def shape_rates(dtype: torch.dtype | str, threads: int | None = None, repeats: int = 7) -> dict[str, float]:
    """GFLOP/s for every case in ``SHAPES``."""
    dtype = _as_dtype(dtype)
    with torch_threads(threads), torch.inference_mode():
        return {name: shape_rate(*mkn, dtype, repeats=repeats) for name, mkn in SHAPES.items()}


def matmul_rate(dtype: torch.dtype | str, threads: int | None = None) -> float:
    """Best achieved matmul GFLOP/s over ``SHAPES`` for ``dtype`` (torch dtype, "fp32" or "bf16")."""
    return max(shape_rates(dtype, threads).values())


def cpu_facts() -> dict:
    """CPU model and the SIMD/matrix flags that decide which dtype is fast (Linux; else partial)."""
    model, flags = None, set()
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text(errors="replace").splitlines():
            key, _, value = line.partition(":")
            if key.strip() == "model name" and model is None:
                model = value.strip()
            elif key.strip() == "flags" and not flags:
                flags = set(value.split())
    return {
        "cpu_model": model or platform.processor() or platform.machine(),
        "flags": [flag for flag in _FLAGS_OF_INTEREST if flag in flags],
        "logical_cpus": os.cpu_count(),
    }


def torch_facts() -> dict:
    return {
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "mkldnn": torch.backends.mkldnn.is_available(),
        "cpu_capability": torch.backends.cpu.get_cpu_capability(),
    }


def _bf16_feature() -> str | None:
    # Optional: the benchmark must run even while likra itself is mid-refactor or not installed.
    try:
        from likra.model.precision import cpu_bf16_support
    except ImportError:
        return None
    return cpu_bf16_support()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=int, default=None, help="torch intra-op threads (default: torch's)")
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--out", type=Path, help="default: benchmarks/results/matmul_rate_<machine>_<date>.json")
    args = parser.parse_args()

    load_start = os.getloadavg()
    started = time.perf_counter()
    with torch_threads(args.threads) as threads:
        rates = {name: shape_rates(dtype, repeats=args.repeats) for name, dtype in _DTYPES.items()}
        facts = {**torch_facts(), "threads": threads}
    best = {name: max(values.values()) for name, values in rates.items()}
    result = {
        **cpu_facts(),
        "bf16_feature": _bf16_feature(),
        **facts,
        "python": sys.version.split()[0],
        "shapes_mkn": {name: list(mkn) for name, mkn in SHAPES.items()},
        "gflops": {name: {shape: round(v, 1) for shape, v in values.items()} for name, values in rates.items()},
        "best_gflops": {name: round(v, 1) for name, v in best.items()},
        "bf16_over_fp32": round(best["bf16"] / best["fp32"], 2),
        "seconds": round(time.perf_counter() - started, 1),
        "loadavg_start": [round(x, 2) for x in load_start],
        "loadavg_end": [round(x, 2) for x in os.getloadavg()],
        "measured_at": time.strftime("%Y-%m-%dT%H:%M:%S"),
    }
    print(f"{result['cpu_model']}  flags {result['flags']}  torch {facts['torch']}  threads {threads}")
    print(f"{'shape':28s} {'fp32':>9s} {'bf16':>9s}  GFLOP/s")
    for shape in SHAPES:
        print(f"{shape:28s} {rates['fp32'][shape]:9.1f} {rates['bf16'][shape]:9.1f}")
    print(
        f"best: fp32 {best['fp32']:.1f}, bf16 {best['bf16']:.1f} ({result['bf16_over_fp32']}x)  "
        f"load {result['loadavg_start'][0]} -> {result['loadavg_end'][0]}"
    )
    out = args.out
    if out is None:  # likra imported here only: matmul_rate() itself needs nothing of it
        from likra.model.precision import result_path

        out = result_path("matmul_rate", Path(__file__).resolve().parent / "results")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
