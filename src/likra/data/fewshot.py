"""k-shot prompts: demonstrations drawn from a pool, joined as lm-evaluation-harness joins them.

lm-eval's plain-text prompt is
``description + demo_1 + "\\n\\n" + ... + demo_k + "\\n\\n" + context``
where each demo is the solved item (context, target delimiter, gold answer). The demonstrations
are lm-eval's own: one RNG stream (``random.Random(seed)``) over the items in order, k draws per
item, or k + 1 with the item itself dropped when the pool holds it, so the first L items of a task
get the prompts ``lm_eval --num_fewshot k --limit L`` gives them (``tests/test_fewshot.py``).
One deliberate difference: a pool item whose question equals the evaluated one (another id) is
never a demonstration (lm-eval compares whole documents).
"""

from __future__ import annotations

import random
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import replace

from likra.data.items import Item
from likra.errors import LikraError

FEWSHOT_DELIMITER = "\n\n"


def _description(item: Item) -> str:
    """The task description that starts every context (MMLU), or ""."""
    description = item.meta.get("description", "")
    if description and all(c.startswith(description) for c in item.contexts):
        return description
    return ""


def _demo_text(demo: Item) -> str:
    # A demo carries no description of its own: lm-eval prints it once, before all demos.
    return demo.demonstration()[len(_description(demo)) :]


def add_fewshot(items: Sequence[Item], pool: Sequence[Item], k: int, seed: int = 1234) -> list[Item]:
    """Each item with ``k`` demonstrations from ``pool`` before its context(s).

    Demonstrations never include the item itself (same id or identical question). Draws follow
    lm-eval's sampler: one ``random.Random(seed)`` stream over ``items`` in order.
    """
    if k < 0:
        raise LikraError(f"the number of shots must be 0 or more, got {k}")
    if k == 0:
        return list(items)
    if k > len(pool) - 1:
        raise LikraError(
            f"cannot draw {k} demonstrations from a pool of {len(pool)} items "
            f"(at most {max(len(pool) - 1, 0)}: the item itself is never its own demonstration)"
        )
    # Indices to exclude per id / question, so each draw costs O(k), not O(len(pool)).
    by_id: dict[str, set[int]] = defaultdict(set)
    by_question: dict[str, set[int]] = defaultdict(set)
    for index, demo in enumerate(pool):
        by_id[demo.id].add(index)
        by_question[demo.question].add(index)

    rng = random.Random(seed)  # one stream over the items in order, as lm-eval's sampler
    out = []
    for item in items:
        excluded = by_id.get(item.id, set()) | by_question.get(item.question, set())
        if len(pool) - len(excluded) < k:
            raise LikraError(
                f"item {item.id!r}: only {len(pool) - len(excluded)} pool items differ from it, "
                f"cannot draw {k} demonstrations"
            )
        # lm-eval: sample k (k + 1 when the item may be in the pool, then drop it); when more
        # than one copy had to be dropped, sample again from the pool without them.
        drawn = rng.sample(range(len(pool)), k + (1 if excluded else 0))
        chosen = [i for i in drawn if i not in excluded][:k]
        if len(chosen) < k:
            allowed = [i for i in range(len(pool)) if i not in excluded]
            chosen = [allowed[j] for j in rng.sample(range(len(allowed)), k)]
        demos = "".join(_demo_text(pool[i]) + FEWSHOT_DELIMITER for i in chosen)
        description = _description(item)
        if description:
            contexts = tuple(description + demos + c[len(description) :] for c in item.contexts)
            out.append(replace(item, contexts=contexts))
        else:
            out.append(item.with_prefix(demos))
    return out


def fewshot_pool(task_or_path: str) -> list[Item]:
    """Where k-shot demonstrations come from: the task's ``fewshot_split``, or for a ``.jsonl``
    file the whole file (``add_fewshot`` never picks an item as its own demonstration)."""
    from likra.data.jsonl import looks_like_path, resolve_items
    from likra.data.registry import get_task

    if looks_like_path(task_or_path):
        return resolve_items(task_or_path, "-")
    task = get_task(task_or_path)
    if task.fewshot_split is None:
        raise LikraError(f"task '{task.name}' has no split to draw k-shot demonstrations from")
    return task.load(task.fewshot_split)
