"""lm-eval's own tasks over likra's packaged data, so ``likra harness`` needs no network.

For each requested task that likra packages, a YAML is written that ``include``s lm-eval's own
YAML (its prompts, ``process_docs``, metrics and tags stay lm-eval's) and replaces only where the
docs come from: a local JSON file per packaged split (``dataset_path: json``). Splits that are not
packaged are switched off, and a k-shot run that would need one is refused rather than letting
lm-eval draw its demonstrations from another split. The folder is given to lm-eval as
``--include_path``, which overrides its built-in task of the same name.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path

import yaml

from likra.data.lm_eval_docs import LM_EVAL_TASKS, LmEvalTask, served_tasks
from likra.errors import LikraError

SPLIT_KEYS = ("training_split", "validation_split", "test_split", "fewshot_split")


@dataclass(frozen=True)
class OfflinePlan:
    """Which requested names are served from the packaged data and which are left to lm-eval."""

    served: tuple[str, ...]  # lm-eval task names written as local tasks
    passed_on: tuple[str, ...]  # names lm-eval resolves itself (other tasks, paths; may need the Hub)


def plan_offline(task_names: list[str]) -> OfflinePlan:
    """Split the names of ``--tasks`` into the packaged tasks and the rest."""
    served: list[str] = []
    passed_on: list[str] = []
    for name in task_names:
        members = served_tasks(name)
        served += [m for m in members if m not in served]
        if not members:
            passed_on.append(name)
    return OfflinePlan(tuple(served), tuple(passed_on))


def lm_eval_yaml(task: LmEvalTask) -> Path:
    """lm-eval's own YAML for ``task`` (installed with lm-eval)."""
    import lm_eval

    return Path(lm_eval.__file__).parent / "tasks" / task.yaml


def write_task(task: LmEvalTask, folder: Path, num_fewshot: int | None) -> Path:
    """Write the packaged splits ``task`` needs and its YAML into ``folder``; the YAML's path.

    Only the evaluated split and, for a k-shot run, the demonstrations' split are written: lm-eval
    loads every split it is given, and Winogrande's train split alone is 40,398 docs.
    """
    from lm_eval.tasks._yaml_loader import load_yaml

    original = lm_eval_yaml(task)
    config = load_yaml(original, resolve_func=False)
    if config.get("task") != task.name:
        raise LikraError(f"lm-eval's {original} does not define task {task.name}; is lm-eval 0.4.13 installed?")
    evaluated = config.get("test_split") or config.get("validation_split")
    if evaluated not in task.splits:  # a bug in the table: LM_EVAL_TASKS lists only tasks whose split is packaged
        raise LikraError(f"{task.name}: lm-eval scores its '{evaluated}' split, which likra does not package")
    needed = {evaluated}
    shots = num_fewshot if num_fewshot is not None else config.get("num_fewshot") or 0
    if shots:
        demo_split = config.get("fewshot_split") or config.get("training_split")
        if demo_split not in task.splits:
            raise LikraError(
                f"{task.name}: lm-eval draws k-shot demonstrations from its '{demo_split}' split, which likra "
                "does not package in raw form; run it with --num_fewshot 0 offline"
            )
        needed.add(demo_split)
    docs = {split: task.splits[split]() for split in sorted(needed)}
    # One JSON dataset needs one schema: keep the fields every split has (the prompts use those).
    shared = set.intersection(*(set(d[0]) for d in docs.values() if d))
    data_files = {}
    for split, split_docs in docs.items():
        path = folder / f"{task.name}.{split}.jsonl"
        rows = ({k: v for k, v in doc.items() if k in shared} for doc in split_docs)
        path.write_text("".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows), encoding="utf-8")
        data_files[split] = str(path)
    override = {
        "include": str(original),
        "task": task.name,
        "dataset_path": "json",
        "dataset_name": None,
        "dataset_kwargs": {"data_files": data_files, "cache_dir": str(folder / "hf-datasets-cache")},
        **{key: None for key in SPLIT_KEYS if config.get(key) and config[key] not in needed},
    }
    path = folder / f"{task.name}.yaml"
    path.write_text(yaml.safe_dump(override, sort_keys=False), encoding="utf-8")
    return path


def write_offline_tasks(plan: OfflinePlan, folder: Path, num_fewshot: int | None) -> None:
    """Write every served task of ``plan`` into ``folder`` (an lm-eval ``--include_path``)."""
    for name in plan.served:
        write_task(LM_EVAL_TASKS[name], folder, num_fewshot)


class _QuietOverrides(logging.Filter):
    """lm-eval warns once per task (and per tag) that an included task overrides its built-in one;
    here that is the point, and likra says it once for all of them."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "overrides existing task" not in record.getMessage()


def quiet_overrides() -> None:
    """Silence lm-eval's per-task override warnings (``likra harness`` prints one line instead)."""
    logging.getLogger("lm_eval.tasks._index").addFilter(_QuietOverrides())
