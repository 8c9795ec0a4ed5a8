"""Serialise items to and from JSONL, one item per line (test fixtures, caches of loaded data)."""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from likra.data.items import Item
from likra.io import atomic_write_text

_TUPLE_FIELDS = ("choices", "contexts", "continuations", "train_contexts", "train_continuations")


def item_to_dict(item: Item) -> dict[str, Any]:
    """The item's fields as plain JSON values (``meta`` only when non-empty)."""
    row: dict[str, Any] = {
        "id": item.id,
        "question": item.question,
        "choices": list(item.choices),
        "gold": item.gold,
        "contexts": list(item.contexts),
        "continuations": list(item.continuations),
        "train_contexts": None if item.train_contexts is None else list(item.train_contexts),
        "train_continuations": (
            None if item.train_continuations is None else list(item.train_continuations)
        ),
    }
    if item.meta:
        row["meta"] = item.meta
    return row


def item_from_dict(row: dict[str, Any]) -> Item:
    """The inverse of :func:`item_to_dict`."""
    fields = {k: (tuple(row[k]) if row.get(k) is not None else None) for k in _TUPLE_FIELDS}
    return Item(
        id=str(row["id"]),
        question=row["question"],
        gold=int(row["gold"]),
        meta=dict(row.get("meta") or {}),
        **fields,  # type: ignore[arg-type]
    )


def items_to_jsonl(items: Iterable[Item], path: str | Path) -> None:
    """Write items atomically, one JSON object per line (non-ASCII kept readable)."""
    text = "".join(json.dumps(item_to_dict(i), ensure_ascii=False) + "\n" for i in items)
    atomic_write_text(path, text)


def items_from_jsonl(path: str | Path) -> list[Item]:
    """Read items written by :func:`items_to_jsonl`."""
    with open(path, encoding="utf-8") as handle:
        return [item_from_dict(json.loads(line)) for line in handle if line.strip()]
