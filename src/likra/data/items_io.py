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
    """The item's fields as plain JSON values.

    Compact: a context shared by every choice is written once as ``"context"``; continuations
    that are just " " + choice, absent training forms and empty ``meta`` are left out.
    """
    row: dict[str, Any] = {
        "id": item.id,
        "question": item.question,
        "choices": list(item.choices),
        "gold": item.gold,
    }
    if len(set(item.contexts)) == 1 and len(item.contexts) == len(item.choices):
        row["context"] = item.contexts[0]
    else:
        row["contexts"] = list(item.contexts)
    if item.continuations != tuple(" " + c for c in item.choices):
        row["continuations"] = list(item.continuations)
    if item.train_contexts is not None:
        row["train_contexts"] = list(item.train_contexts)
    if item.train_continuations is not None:
        row["train_continuations"] = list(item.train_continuations)
    if item.meta:
        row["meta"] = item.meta
    return row


def item_from_dict(row: dict[str, Any]) -> Item:
    """The inverse of :func:`item_to_dict`."""
    fields = {k: (tuple(row[k]) if row.get(k) is not None else None) for k in _TUPLE_FIELDS}
    if "context" in row:
        fields["contexts"] = (row["context"],) * len(row["choices"])
    if "continuations" not in row:
        fields["continuations"] = tuple(" " + c for c in row["choices"])
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
