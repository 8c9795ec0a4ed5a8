"""Dtype choice (likra.model.precision): CPU bf16 detection, name resolution, and a real bf16 run.

The detection tests feed fake /proc/cpuinfo texts, so they pass the same on any machine.
"""

from __future__ import annotations

import datetime
import json
import math
import warnings

import pytest
import torch

from fixtures import load_fixture
from likra.errors import LikraError
from likra.model import precision
from likra.model.load import auto_dtype, load_base
from likra.model.precision import DTYPE_CHOICES, cpu_bf16_support, dtype_name, parse_cpu_flags, resolve_dtype
from likra.score.scorer import score_items

CPU = torch.device("cpu")


def cpuinfo(*flags: str, vendor: str = "GenuineIntel") -> str:
    base = "fpu sse sse2 avx avx2 avx512f avx512bw"
    return (
        f"processor\t: 0\nvendor_id\t: {vendor}\nmodel name\t: Test CPU\n"
        f"flags\t\t: {' '.join([base, *flags])}\n\n"
        "processor\t: 1\nflags\t\t: fpu\n"  # only the first processor's flags count
    )


@pytest.fixture
def fake_cpu(monkeypatch: pytest.MonkeyPatch):
    """Set the cpuinfo text (None: no /proc/cpuinfo), oneDNN availability and torch's own probe."""

    def set_cpu(text: str | None, mkldnn: bool = True, probe: str | None = None) -> None:
        monkeypatch.setattr(precision, "_cpuinfo_text", lambda: text)
        monkeypatch.setattr(torch.backends.mkldnn, "is_available", lambda: mkldnn)
        monkeypatch.setattr(precision, "_torch_bf16_feature", lambda: probe)

    return set_cpu


def test_parse_cpu_flags_reads_the_first_flags_line() -> None:
    flags = parse_cpu_flags(cpuinfo("avx512_bf16"))
    assert {"avx2", "avx512_bf16"} <= flags and "amx_bf16" not in flags
    assert parse_cpu_flags("processor\t: 0\n") == set()


def test_the_report_names_the_cpu_and_its_bf16_kernel(fake_cpu) -> None:
    """AMX and AVX512-BF16 round bf16 differently, so a report says which one computed it."""
    assert precision.parse_cpu_model(cpuinfo()) == "Test CPU"
    assert precision.parse_cpu_model("processor\t: 0\n") is None
    threads = torch.get_num_threads()
    fake_cpu(cpuinfo("avx512_bf16", "amx_tile", "amx_bf16"))
    assert precision.compute_description(CPU, torch.bfloat16) == f"cpu: Test CPU, {threads} threads, bf16 via amx_bf16"
    fake_cpu(cpuinfo("avx512_bf16"))
    assert precision.compute_description("cpu", torch.bfloat16).endswith("bf16 via avx512_bf16")
    assert precision.compute_description("cpu", torch.float32) == f"cpu: Test CPU, {threads} threads, fp32"
    fake_cpu(cpuinfo())
    assert precision.compute_description("cpu", torch.bfloat16).endswith("bf16 via emulation")


def test_result_files_are_named_by_machine_and_day(fake_cpu, monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    """benchmarks/README.md: <what>_<machine>_<YYYY-MM-DD>.json, the machine by its strongest matmul feature."""
    cases = [
        (cpuinfo("avx512_bf16", "amx_tile", "amx_bf16"), "intel-amx"),
        (cpuinfo("avx512_bf16"), "intel-avx512bf16"),
        (cpuinfo("avx512_bf16", vendor="AuthenticAMD"), "amd-avx512bf16"),
        (cpuinfo(), "intel-avx512"),
        ("processor\t: 0\nvendor_id\t: Some Vendor\nflags\t\t: fpu\n", "some-vendor"),
    ]
    for text, slug in cases:
        fake_cpu(text)
        assert precision.machine_slug() == slug
        assert precision.machine_slug("cpu") == slug
    fake_cpu(None)  # no /proc/cpuinfo: the OS and architecture
    monkeypatch.setattr(precision.platform, "system", lambda: "Darwin")
    monkeypatch.setattr(precision.platform, "machine", lambda: "arm64")
    assert precision.machine_slug() == "darwin-arm64"
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda device=None: "NVIDIA H100 80GB HBM3")
    assert precision.machine_slug("cuda:0") == "nvidia-h100-80gb-hbm3"

    fake_cpu(cpuinfo("avx512_bf16", vendor="AuthenticAMD"))
    day = datetime.date(2026, 11, 27)
    path = precision.result_path("matmul_rate", tmp_path, day=day)
    assert path == tmp_path / "matmul_rate_amd-avx512bf16_2026-11-27.json"
    assert precision.result_path("x", "results").name == f"x_amd-avx512bf16_{datetime.date.today().isoformat()}.json"


def test_write_result_makes_the_folder_and_writes_json_with_a_newline(tmp_path, capsys) -> None:
    out = tmp_path / "not" / "yet" / "result.json"
    assert precision.write_result({"a": [1, 2], "b": "c"}, out, indent=1) == out
    text = out.read_text()
    assert text.endswith("\n")
    assert json.loads(text) == {"a": [1, 2], "b": "c"}
    assert text == json.dumps({"a": [1, 2], "b": "c"}, indent=1) + "\n"
    assert capsys.readouterr().out == f"wrote {out}\n"


@pytest.mark.parametrize(
    ("text", "mkldnn", "probe", "expected"),
    [
        (cpuinfo("avx512_bf16"), True, None, "avx512_bf16"),
        (cpuinfo("avx512_bf16", "amx_tile", "amx_bf16"), True, None, "amx_bf16"),
        (cpuinfo(), True, "avx512_bf16", None),  # cpuinfo present: it decides
        (cpuinfo("avx512_bf16"), False, None, None),  # no oneDNN: torch has no fast bf16 GEMM
        (None, True, None, None),  # macOS arm64 / aarch64: not detected
        (None, True, "amx_bf16", "amx_bf16"),  # Windows / Intel macOS: torch's probe
        (None, False, "amx_bf16", None),
    ],
)
def test_cpu_bf16_support(fake_cpu, text, mkldnn, probe, expected) -> None:
    fake_cpu(text, mkldnn, probe)
    assert cpu_bf16_support() == expected


def test_auto_trains_in_bf16_only_where_it_was_measured_faster(fake_cpu) -> None:
    fake_cpu(cpuinfo("avx512_bf16", "amx_tile", "amx_bf16"))  # Intel with AMX
    assert resolve_dtype(CPU, "auto") is torch.bfloat16
    fake_cpu(cpuinfo("avx512_bf16", vendor="AuthenticAMD"))  # AMD Zen 4+
    assert resolve_dtype(CPU, "auto") is torch.bfloat16
    fake_cpu(cpuinfo("avx512_bf16"))  # Intel without AMX: bf16 trained 1.4x slower than fp32
    assert resolve_dtype(CPU, "auto") is torch.float32
    fake_cpu(cpuinfo())
    assert resolve_dtype(CPU, "auto") is torch.float32
    assert resolve_dtype(CPU, None) is torch.float32


@pytest.mark.parametrize("flags", [(), ("avx512_bf16", "amx_tile", "amx_bf16")])
def test_auto_scores_in_fp32_everywhere(fake_cpu, monkeypatch: pytest.MonkeyPatch, flags) -> None:
    """A likelihood ratio needs fp32 (test_ratio_precision.py): auto never scores in bf16."""
    fake_cpu(cpuinfo(*flags))
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: True)
    for device in (CPU, torch.device("cuda")):
        assert resolve_dtype(device, "auto", precision.SCORING) is torch.float32
        assert resolve_dtype(device, None, precision.SCORING) is torch.float32
    with pytest.warns(RuntimeWarning, match="ratio modes"):
        assert resolve_dtype(CPU, "bf16", precision.SCORING) is torch.bfloat16
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert resolve_dtype(CPU, "fp32", precision.SCORING) is torch.float32


def test_the_command_line_accepts_only_the_listed_dtypes() -> None:
    assert precision.check_dtype_choice("bf16") == "bf16" and precision.check_dtype_choice(None) is None
    for bad in ("fp16", "float32", "BF16", ""):
        with pytest.raises(LikraError, match="dtype"):
            precision.check_dtype_choice(bad)


def test_auto_on_cuda_follows_bf16_support(monkeypatch: pytest.MonkeyPatch, fake_cpu) -> None:
    fake_cpu(cpuinfo())
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: True)
    assert resolve_dtype(torch.device("cuda"), "auto") is torch.bfloat16
    assert resolve_dtype(torch.device("cuda"), None) is torch.bfloat16  # CUDA default unchanged
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: False)
    assert resolve_dtype(torch.device("cuda"), "auto") is torch.float32


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("fp32", torch.float32),
        ("float32", torch.float32),
        ("bf16", torch.bfloat16),
        ("bfloat16", torch.bfloat16),
        ("BF16", torch.bfloat16),
        ("fp16", torch.float16),
        ("float16", torch.float16),
    ],
)
def test_explicit_names(fake_cpu, name, expected) -> None:
    fake_cpu(cpuinfo("avx512_bf16", "avx512_fp16"))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # native support: no slowness warning
        assert resolve_dtype(CPU, name) is expected


def test_bf16_without_native_support_is_allowed_but_warns(fake_cpu) -> None:
    fake_cpu(cpuinfo())
    with pytest.warns(RuntimeWarning, match="avx512_bf16"):
        assert resolve_dtype(CPU, "bf16") is torch.bfloat16
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert resolve_dtype(CPU, "fp32") is torch.float32


def test_unknown_name_lists_the_valid_ones() -> None:
    with pytest.raises(LikraError) as error:
        resolve_dtype(CPU, "bf61")
    message = str(error.value)
    assert "'bf61'" in message and all(name in message for name in DTYPE_CHOICES)
    assert "Did you mean 'bf16'" in message


def test_dtype_name_round_trips(fake_cpu) -> None:
    fake_cpu(cpuinfo("avx512_bf16", "avx512_fp16"))
    for name in DTYPE_CHOICES[1:] + ("fp16",):
        assert dtype_name(resolve_dtype(CPU, name)) == name


def test_cpu_default_stays_fp32_until_decided(fake_cpu) -> None:
    # load_base(dtype=None) must not silently switch CPU users to bf16; "auto" may.
    fake_cpu(cpuinfo("avx512_bf16", "amx_tile", "amx_bf16"))
    assert resolve_dtype(CPU, None) is torch.float32
    assert resolve_dtype(CPU, "auto") is torch.bfloat16
    assert resolve_dtype(CPU, "float32") is torch.float32


def test_a_config_records_auto_as_the_precision_it_gives(fake_cpu) -> None:
    fake_cpu(cpuinfo("avx512_bf16", "amx_tile", "amx_bf16"))
    assert auto_dtype("auto", "cpu", precision.TRAINING) == "bf16"
    assert auto_dtype("auto", "cpu", precision.SCORING) == "fp32"
    assert auto_dtype("fp32", "cpu", precision.TRAINING) == "fp32" and auto_dtype(None, "cpu", "training") is None


def test_tiny_model_scores_in_bf16_close_to_fp32(tiny_model_dir) -> None:
    items = load_fixture("arc_easy_test")[:8]
    fp32 = load_base(str(tiny_model_dir), device="cpu", dtype="fp32")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # slow-bf16 warning on CPUs without it
        bf16 = load_base(str(tiny_model_dir), device="cpu", dtype="bf16")
    assert fp32.dtype is torch.float32 and next(fp32.model.parameters()).dtype is torch.float32
    assert bf16.dtype is torch.bfloat16
    assert {p.dtype for p in bf16.model.parameters()} == {torch.bfloat16}
    assert load_base(str(tiny_model_dir), device="cpu").dtype is torch.float32

    rows32, _ = score_items(fp32.model, fp32.tokenizer, items, ("base",), max_length=fp32.max_length, progress=False)
    rows16, _ = score_items(bf16.model, bf16.tokenizer, items, ("base",), max_length=bf16.max_length, progress=False)
    a = [c["base"] for row in rows32 for c in row["choices"]]
    b = [c["base"] for row in rows16 for c in row["choices"]]
    assert len(a) == len(b) > 8 and all(math.isfinite(x) and x < 0 for x in a + b)
    diffs = [abs(x - y) for x, y in zip(a, b)]
    assert sum(diffs) / len(diffs) < 0.1
    assert max(diffs) > 0  # really computed in bf16, not silently upcast to fp32
