"""Pick the compute dtypes: one for training, one for scoring.

**Scoring is fp32 under "auto", on every device.** likra's scores are differences of two large,
nearly equal log-likelihoods (pos − neg, base − neg, ...). bf16 rounds each per-choice
log-likelihood by ~0.1 nats, independently per head, which early in training is more than the
heads differ: bf16 ratio scores then agree with fp32 on only 30-60% of items (docs/method.md,
"Precision"; ``benchmarks/ratio_precision.py``). bf16 matmuls with an fp32 residual stream and
fp32 logits were measured too and do not fix it (their matmul inputs are still rounded).

**Training is bf16 under "auto" only where that is measured faster**: CUDA with bf16, Intel CPUs
with AMX-BF16 and AMD CPUs with AVX512-BF16 (oneDNN, torch's ``mkldnn`` backend). On an Intel
CPU with AVX512-BF16 but no AMX, bf16 trained 1.4x *slower* than fp32 and scored 1.4x slower
(measured 2026-12-05), and without native instructions bf16 is emulated; fp32 there. The heads'
numbers barely depend on the training precision (docs/method.md).
"""

from __future__ import annotations

import datetime
import functools
import json
import platform
import re
import warnings
from pathlib import Path

import torch

from likra.errors import unknown_name

DTYPE_CHOICES = ("auto", "fp32", "bf16")
# What commands use when --dtype is not given: auto resolves per purpose (training, scoring).
DEFAULT_DTYPE = "auto"

# Long names are what load_base accepted before; keep them so old configs and callers still work.
_ALIASES: dict[str, torch.dtype] = {
    "fp32": torch.float32,
    "float32": torch.float32,
    "bf16": torch.bfloat16,
    "bfloat16": torch.bfloat16,
    "fp16": torch.float16,
    "float16": torch.float16,
}
_NAMES = {torch.float32: "fp32", torch.bfloat16: "bf16", torch.float16: "fp16"}

# Strongest first: AMX tiles beat the AVX512 dot-product instructions when both exist.
_BF16_FLAGS = ("amx_bf16", "avx512_bf16")
_FP16_FLAGS = ("amx_fp16", "avx512_fp16")


@functools.lru_cache(maxsize=1)
def _cpuinfo_text() -> str | None:
    """/proc/cpuinfo on x86 Linux; None elsewhere."""
    # aarch64 Linux and macOS arm64 (M2+) do have bf16 instructions, but whether torch's CPU
    # matmul uses them depends on the build (ACL/Accelerate); until measured there, no bf16.
    if platform.system() != "Linux" or platform.machine().lower() not in ("x86_64", "amd64"):
        return None
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as handle:
            return handle.read()
    except OSError:
        return None


def _cpuinfo_field(cpuinfo: str, name: str) -> str | None:
    """The value of ``name`` for the first processor listed in a /proc/cpuinfo text."""
    for line in cpuinfo.splitlines():
        key, _, value = line.partition(":")
        if key.strip() == name:
            return value.strip()
    return None


def parse_cpu_flags(cpuinfo: str) -> set[str]:
    """The feature flags of the first processor listed in a /proc/cpuinfo text."""
    return set((_cpuinfo_field(cpuinfo, "flags") or "").split())


def parse_cpu_model(cpuinfo: str) -> str | None:
    """The "model name" of the first processor listed in a /proc/cpuinfo text."""
    return _cpuinfo_field(cpuinfo, "model name")


def compute_description(device: torch.device | str, dtype: torch.dtype) -> str:
    """Where the numbers were computed, e.g. "cpu: AMD EPYC, 2 threads, bf16 via avx512_bf16".

    bf16 results differ between kernels (AMX and AVX512-BF16 round differently), so a report
    names the one it used."""
    device = torch.device(device)
    if device.type != "cpu":
        name = torch.cuda.get_device_name(device) if device.type == "cuda" else device.type
        return f"{device.type}: {name}, {dtype_name(dtype)}"
    text = _cpuinfo_text()
    model = (parse_cpu_model(text) if text else None) or platform.processor() or platform.machine()
    kernel = f" via {cpu_bf16_support() or 'emulation'}" if dtype == torch.bfloat16 else ""
    return f"cpu: {model}, {torch.get_num_threads()} threads, {dtype_name(dtype)}{kernel}"


# The strongest matmul feature of a CPU, as a file-name word: it decides the speed (and for bf16
# the rounding) of what a benchmark measures there.
_SLUG_FEATURES = (("amx_bf16", "amx"), ("avx512_bf16", "avx512bf16"), ("avx512f", "avx512"), ("avx2", "avx2"))
_SLUG_VENDORS = {"GenuineIntel": "intel", "AuthenticAMD": "amd"}


def _slug(text: str) -> str:
    return "-".join(re.findall(r"[a-z0-9]+", text.lower()))


def machine_slug(device: torch.device | str | None = None) -> str:
    """A short file-name word for the machine: vendor and strongest matmul feature of the CPU, e.g.
    "intel-amx", "intel-avx512bf16", "amd-avx512bf16"; a CUDA ``device``'s name, e.g.
    "nvidia-h100-80gb-hbm3"; "darwin-arm64" and the like where there is no /proc/cpuinfo."""
    if device is not None and torch.device(device).type == "cuda":
        return _slug(torch.cuda.get_device_name(torch.device(device)))
    text = _cpuinfo_text()
    if text is None:
        return _slug(f"{platform.system()} {platform.machine()}") or "unknown"
    vendor = _cpuinfo_field(text, "vendor_id") or ""
    words = [_SLUG_VENDORS.get(vendor) or _slug(vendor) or _slug(platform.machine())]
    flags = parse_cpu_flags(text)
    words += [word for flag, word in _SLUG_FEATURES if flag in flags][:1]
    return "-".join(word for word in words if word) or "unknown"


def result_path(
    what: str, folder: str | Path, device: torch.device | str | None = None, day: datetime.date | None = None
) -> Path:
    """``folder/<what>_<machine>_<YYYY-MM-DD>.json``: the name of a committed result file says the
    machine (``machine_slug``) and the day (default today) it was measured on, so a measurement
    made again elsewhere or later is a new file beside the old one (benchmarks/README.md)."""
    day = day or datetime.date.today()
    return Path(folder) / f"{what}_{machine_slug(device)}_{day.isoformat()}.json"


def write_result(result: dict, out: Path, indent: int = 2) -> Path:
    """Write ``result`` as JSON (and a newline) to ``out``, making its folder; print and return ``out``."""
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=indent) + "\n")
    print(f"wrote {out}")
    return out


def _cpu_feature(wanted: tuple[str, ...]) -> str | None:
    """The first of ``wanted`` in /proc/cpuinfo's flags; None if absent or no cpuinfo."""
    text = _cpuinfo_text()
    flags = parse_cpu_flags(text) if text is not None else set()
    return next((flag for flag in wanted if flag in flags), None)


def _torch_bf16_feature() -> str | None:
    """torch's own cpuinfo-library probes, for x86 without /proc/cpuinfo (Windows, Intel macOS).

    They are private torch API, hence the guards; on arm64 they report False.
    """
    probes = (("amx_bf16", "_is_amx_tile_supported"), ("avx512_bf16", "_is_avx512_bf16_supported"))
    for feature, probe in probes:
        check = getattr(torch.cpu, probe, None)
        try:
            if check is not None and check():
                return feature
        except Exception:  # a private probe that changed shape must not break model loading
            continue
    return None


def _cpu_vendor() -> str | None:
    text = _cpuinfo_text()
    return _cpuinfo_field(text, "vendor_id") if text else None


def cpu_bf16_faster() -> bool:
    """Whether bf16 *trains* faster than fp32 on this CPU (measured; see the module docstring):
    AMX-BF16, or AVX512-BF16 on AMD. Intel's AVX512-BF16 without AMX was slower than fp32."""
    feature = cpu_bf16_support()
    if feature == "amx_bf16":
        return True
    return feature == "avx512_bf16" and _cpu_vendor() == "AuthenticAMD"


def cpu_bf16_support() -> str | None:
    """The CPU feature that gives torch native bf16 matmuls ("amx_bf16", "avx512_bf16"), or None.

    Needs torch's oneDNN backend too: the fast bf16 GEMM lives there, not in the fallback BLAS.
    """
    if not torch.backends.mkldnn.is_available():
        return None
    if _cpuinfo_text() is None:
        return _torch_bf16_feature()
    return _cpu_feature(_BF16_FLAGS)


def check_dtype_choice(value: str | None) -> str | None:
    """A command-line ``--dtype`` value, checked against ``DTYPE_CHOICES`` (None passes)."""
    if value is not None and value not in DTYPE_CHOICES:
        raise unknown_name("dtype", value, DTYPE_CHOICES)
    return value


def dtype_name(dtype: torch.dtype) -> str:
    """Short name of a floating dtype: "fp32", "bf16" or "fp16"."""
    try:
        return _NAMES[dtype]
    except KeyError:
        return str(dtype).replace("torch.", "")


def _cuda_bf16() -> bool:
    return torch.cuda.is_available() and torch.cuda.is_bf16_supported()


def _warn_if_slow(device: torch.device, dtype: torch.dtype) -> None:
    """Warn when an explicitly requested half type has no native matmul on ``device``."""
    name = dtype_name(dtype)
    if device.type == "cpu" and dtype in (torch.bfloat16, torch.float16):
        flags = _BF16_FLAGS if dtype == torch.bfloat16 else _FP16_FLAGS
        native = cpu_bf16_support() if dtype == torch.bfloat16 else _cpu_feature(flags)
        if native is None:
            warnings.warn(
                f"{name} requested, but this CPU has no native {name} matmul (no {' or '.join(flags)}"
                " flag, or a torch without oneDNN): torch emulates it, slower than fp32.",
                RuntimeWarning,
                stacklevel=3,
            )
    elif device.type == "cuda" and dtype == torch.bfloat16 and not _cuda_bf16():
        warnings.warn("bf16 requested, but this GPU has no native bf16: it will be slow.", RuntimeWarning, stacklevel=3)


def _explicit(device: torch.device, name: str, requested: str | None) -> torch.dtype:
    if name not in _ALIASES:
        raise unknown_name("dtype", str(requested), ("auto", *_ALIASES))
    dtype = _ALIASES[name]
    _warn_if_slow(device, dtype)
    return dtype


TRAINING, SCORING = "training", "scoring"  # what a dtype is resolved for: "auto" differs between them


def resolve_dtype(device: torch.device | str, requested: str | None = "auto", purpose: str = TRAINING) -> torch.dtype:
    """The dtype of the frozen base model for ``requested`` ("auto", "fp32", "bf16"; legacy long
    names too) on ``device``, for ``purpose`` (``TRAINING`` or ``SCORING``): likra's one resolver.

    "auto", for training: bf16 on CUDA with bf16 support and on CPUs where bf16 is measured faster
    (see ``cpu_bf16_faster``), else fp32; for scoring: fp32 on every device, because a likelihood
    ratio needs it (module docstring). None (``load_base``'s default, a caller who did not choose)
    is fp32 on a CPU, so nobody is switched to bf16 there silently, and "auto" elsewhere. An
    explicit half type is honoured, with a warning where it is slow and, for scoring, that ratio
    modes lose their ranking at small N. Unknown names raise ``LikraError``.
    """
    device = torch.device(device)
    name = "auto" if requested is None else str(requested).strip().lower()
    if (requested is None and device.type == "cpu") or (name == "auto" and purpose == SCORING):
        return torch.float32
    if name == "auto":
        if device.type == "cuda" and _cuda_bf16():
            return torch.bfloat16
        if device.type == "cpu" and cpu_bf16_faster():
            return torch.bfloat16
        return torch.float32
    dtype = _explicit(device, name, requested)
    if purpose == SCORING and dtype != torch.float32:
        warnings.warn(
            f"scoring in {dtype_name(dtype)}: it rounds each log-likelihood by ~0.1 nats, more than the "
            "heads differ early in training, so likra, neg-only and the other ratio modes lose their "
            "ranking at small N (docs/method.md, Precision). The default (auto) scores in fp32.",
            RuntimeWarning,
            stacklevel=2,
        )
    return dtype
