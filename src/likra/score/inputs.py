"""What a score table depends on, as digests: a cached table is reused only if all of them match.

A score is a function of the items (their content, not the file's path), the model's weights,
the adapters' weights, the scoring precision and device kind, and the scorer's packing. Each
cached table records these ``inputs``; a table whose record differs (or is missing: written by an
older likra) is computed again, so a number from other inputs is never handed back.
"""

from __future__ import annotations

import functools
import hashlib
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from likra.data.items import Item

# Bump when the scorer's arithmetic changes what it writes (a table from before is then recomputed).
SCORER_VERSION = 2  # 2: scoring precision apart from training; auto scores in fp32


def items_digest(items: Sequence[Item]) -> str:
    """sha256 of exactly what is scored and how it is judged: ids, gold, requests and lengths."""
    digest = hashlib.sha256()
    for item in items:
        record = [item.id, item.gold, item.requests(), [item.n_chars(c) for c in range(item.n_choices)]]
        digest.update(json.dumps(record, ensure_ascii=False).encode())
        digest.update(b"\n")
    return digest.hexdigest()


@functools.lru_cache(maxsize=16)
def _folder_digest(folder: str, stamp: tuple) -> str:
    digest = hashlib.sha256()
    for path in sorted(Path(folder).iterdir()):
        if path.is_file() and (path.suffix == ".safetensors" or path.name == "config.json"):
            digest.update(path.name.encode())
            with open(path, "rb") as handle:
                for block in iter(lambda: handle.read(1 << 20), b""):
                    digest.update(block)
    return digest.hexdigest()


def model_digest(path: str | Path) -> str:
    """sha256 of a model folder's weights and config (cached per process by size and mtime);
    a Hub id that is not a local folder is recorded by name."""
    folder = Path(path)
    if not folder.is_dir():
        return f"name:{path}"
    stamp = tuple(
        (p.name, p.stat().st_size, p.stat().st_mtime_ns)
        for p in sorted(folder.iterdir())
        if p.is_file() and (p.suffix == ".safetensors" or p.name == "config.json")
    )
    return _folder_digest(str(folder.resolve()), stamp)


def score_inputs(items: Sequence[Item], model_path: str | Path, dtype: str, device: Any, batch_tokens: int) -> dict:
    """The record a base score table carries: everything but the adapters."""
    return {
        "items": items_digest(items),
        "model": model_digest(model_path),
        "dtype": dtype,
        "device": str(getattr(device, "type", device)),
        "batch_tokens": int(batch_tokens),
        "scorer": SCORER_VERSION,
    }


def with_adapters(inputs: dict, adapters: dict[str, str]) -> dict:
    """A checkpoint's record: the base record plus each head's adapter digest."""
    return {**inputs, "adapters": dict(sorted(adapters.items()))}


def inputs_key(inputs: dict) -> str:
    """A short, file-name-safe digest of a record."""
    return hashlib.sha256(json.dumps(inputs, sort_keys=True).encode()).hexdigest()[:16]
