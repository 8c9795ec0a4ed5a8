"""The task registry: a task name maps to a loader per split. Loaders live in ``likra.data.tasks``."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from likra.data.items import Item
from likra.errors import LikraError, unknown_name


@dataclass(frozen=True)
class Task:
    """A benchmark: its splits, which of them carry labels, and where k-shot demos come from."""

    name: str
    splits: dict[str, Callable[[], list[Item]]]
    description: str = ""
    fewshot_split: str | None = None
    unlabelled_splits: tuple[str, ...] = ()

    def load(self, split: str) -> list[Item]:
        if split in self.unlabelled_splits:
            raise LikraError(
                f"task '{self.name}' split '{split}' has no public labels; "
                f"evaluate on {', '.join(s for s in self.splits if s not in self.unlabelled_splits)}."
            )
        if split not in self.splits:
            raise unknown_name(f"split of task '{self.name}'", split, list(self.splits))
        return self.splits[split]()


TASKS: dict[str, Task] = {}


def register(task: Task) -> Task:
    TASKS[task.name] = task
    return task


def get_task(name: str) -> Task:
    # Importing the loaders fills the registry; done lazily so `import likra` stays fast.
    import likra.data.tasks  # noqa: F401

    if name not in TASKS:
        raise unknown_name("task", name, list(TASKS))
    return TASKS[name]


def all_tasks() -> dict[str, Task]:
    import likra.data.tasks  # noqa: F401

    return dict(TASKS)
