"""A benchmark task: named splits, each loaded on demand into a list of items."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from likra.data.items import Item
from likra.errors import LikraError, unknown_name

Loader = Callable[[], list[Item]]


@dataclass(frozen=True)
class Task:
    """A benchmark: its splits, which of them carry labels, and where k-shot demos come from.

    ``splits`` maps a split name to a zero-argument loader, so that describing a task reads no
    data; ``unlabelled_splits`` are splits that exist upstream but have no public labels.
    """

    name: str
    splits: dict[str, Loader]
    description: str = ""
    fewshot_split: str | None = None
    unlabelled_splits: tuple[str, ...] = ()

    def load(self, split: str) -> list[Item]:
        """The items of one split; a clear error for unlabelled or unknown splits."""
        if split in self.unlabelled_splits:
            raise LikraError(
                f"task '{self.name}' split '{split}' has no public labels; "
                f"evaluate on {', '.join(s for s in self.splits if s not in self.unlabelled_splits)}."
            )
        if split not in self.splits:
            raise unknown_name(f"split of task '{self.name}'", split, list(self.splits))
        return self.splits[split]()
