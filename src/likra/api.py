"""The Python API: one function per ``likra`` command, with the same names and options.

=====================  ======================================================================
command                function
=====================  ======================================================================
``likra data list``    ``tasks()``: every packaged task with its splits and item counts
``likra data show``    ``items(task, split)``: the items exactly as they are scored
``likra train``        ``train(run_dir, ...)``
``likra eval``         ``evaluate(run_dir, ...)``
``likra generate``     ``generate(run_or_model, prompts, ...)``
``likra reproduce``    ``reproduce(exp_dir, profile)`` (a profile name or a ``Profile``)
``likra curve``        ``curve(exp_dir, train_task, eval_sets, ...)``
``likra negatives``    ``negatives(exp_dir, ...)``
``likra likelihoods``  ``likelihoods(exp_dir)``
``likra report``       ``report(exp_dir)``
``likra harness``      ``likra.harness.LikraLM``: the lm-eval model, for ``lm_eval.simple_evaluate``
=====================  ======================================================================

``import likra`` exposes each of them (loaded on first use, so importing likra stays cheap).
"""

from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path
from typing import Any

from likra.errors import DamagedFileError, warn
from likra.experiments.planner import unscored_runs
from likra.experiments.profiles import (
    EvalSet,
    Profile,
    check_only_seeds,
    check_profile,
    curve_profile,
    get_profile,
    load_profile,
    save_profile,
)
from likra.experiments.runner import (
    changed_inputs,
    check_inputs,
    experiment_inputs,
    run_experiment,
    runs_without_scores,
)
from likra.generation.run import generate
from likra.layout import ExperimentLayout, is_score_table
from likra.model.load import pick_device
from likra.model.precision import SCORING, compute_description, dtype_name, resolve_dtype
from likra.reporting.build import build_report
from likra.rundir import locked, read_manifest, update_manifest
from likra.score.evaluate import LazyModel, evaluate
from likra.training.run import train

__all__ = [
    "tasks",
    "items",
    "train",
    "evaluate",
    "generate",
    "reproduce",
    "curve",
    "negatives",
    "likelihoods",
    "report",
]

NEGATIVE_STRATEGIES = ("first", "random", "hardest", "easiest", "other-question", "all")


def tasks() -> list[dict[str, Any]]:
    """Every packaged task with its splits and item counts, unlabelled splits and description
    (``likra data list``)."""
    from likra.data.registry import all_tasks

    return [
        {
            "name": name,
            "splits": {split: len(task.load(split)) for split in task.splits},
            "unlabelled_splits": list(task.unlabelled_splits),
            "fewshot_split": task.fewshot_split,
            "description": task.description,
        }
        for name, task in all_tasks().items()
    ]


def items(task: str, split: str | None = None, limit: int | None = None, shots: int = 0, seed: int = 1234) -> list:
    """The first ``limit`` items of a task's split (or a .jsonl file) exactly as they are scored,
    with ``shots`` demonstrations prepended (``likra data show``); ``split`` defaults to
    validation where there is one."""
    from likra.data.fewshot import add_fewshot, fewshot_pool
    from likra.data.jsonl import resolve_items

    chosen = resolve_items(task, split or default_split(task))
    chosen = chosen if limit is None else chosen[: max(limit, 0)]
    return add_fewshot(chosen, fewshot_pool(task), shots, seed=seed) if shots else chosen


def default_split(task_or_path: str) -> str:
    """The split ``likra data show`` reads when none is given: validation if the task has one."""
    from likra.data.jsonl import looks_like_path
    from likra.data.registry import get_task

    if looks_like_path(task_or_path):
        return "-"  # a .jsonl file has no splits
    splits = list(get_task(task_or_path).splits)
    return "validation" if "validation" in splits else splits[0]


def reproduce(
    exp_dir: str | Path,
    profile: Profile | str = "default",
    device: str | None = None,
    progress: bool = True,
    log=print,
    loaded: Any = None,
    only_seeds: tuple[int, ...] | None = None,
) -> Path | None:
    """Run every training and evaluation of ``profile`` (a name such as ``quick`` or a
    ``Profile``), skipping finished work, then write the report; its path.

    ``only_seeds`` runs a part: the runs of those seeds alone. The report is written once every
    planned run is scored, by this part or by others (their tables unpacked into ``exp_dir``);
    until then the result is None and the manifest names the seeds left."""
    profile = get_profile(profile) if isinstance(profile, str) else profile
    if only_seeds is not None:
        check_only_seeds(profile, only_seeds)
    exp_dir = Path(exp_dir)  # made by ``locked``, which removes it again if the start fails
    # Record the precisions actually used ("auto" resolved here), so a resume cannot mix two.
    used = loaded.dtype if loaded is not None else resolve_dtype(pick_device(device), profile.dtype)
    scoring_dtype = resolve_dtype(pick_device(device), profile.score_dtype, SCORING)
    profile = replace(profile, dtype=dtype_name(used), score_dtype=dtype_name(scoring_dtype))
    with locked(exp_dir):
        check_profile(exp_dir, profile)
        state = read_manifest(exp_dir)["stages"].get("experiment", {})
        complete = state.get("status") == "complete"
        inputs = experiment_inputs(profile) if complete else None
        unchanged = complete and state.get("inputs") == inputs
        missing = runs_without_scores(exp_dir, profile) if unchanged else []
        if missing:
            # Never a report from fewer runs than planned: the missing ones are run again.
            log(
                f"experiment complete, but {len(missing)} planned run(s) have no score tables "
                f"({', '.join(missing)}): running them"
            )
        elif unchanged:
            log("experiment already complete: rebuilding the report only")
            try:
                return build_report(exp_dir, profile, state.get("facts"))
            except DamagedFileError as damaged:
                if not _drop_damaged_table(exp_dir, damaged):
                    raise
                # Then on as an unfinished experiment: every intact table is kept, the dropped one made again.
        elif complete:
            # Never the old numbers for new inputs: every run and table checks its own record
            # (scores are computed again, a run trained on other data is refused by name).
            log(f"experiment complete, but {changed_inputs(state.get('inputs'), inputs)}: checking every run again")
        started = time.perf_counter()
        # Every task, split and the model are checked before the directory is written to: a
        # profile.json left by a failed start would refuse the corrected command.
        check_inputs(profile)
        if loaded is None:
            from likra.model.load import load_base

            loaded = load_base(profile.model, device=device, dtype=profile.dtype)
        save_profile(exp_dir, profile)
        update_manifest(exp_dir, "experiment", status="running")
        # Scoring reuses the training model when the precisions agree, else loads its own copy.
        scoring = LazyModel(profile.model, device, profile.score_dtype, loaded if used == scoring_dtype else None)

        specs: list = []  # every planned run, as run_experiment returns them

        def run() -> None:
            specs[:] = run_experiment(
                exp_dir, profile, loaded, scoring, progress=progress, log=log, only_seeds=only_seeds
            )

        run()
        seconds = time.perf_counter() - started
        if only_seeds is not None:
            left = sorted({spec.seed for spec in unscored_runs(ExperimentLayout(exp_dir), profile, specs)})
            if left:
                update_manifest(exp_dir, "experiment", status="partial", seeds_left=left)
                log(
                    f"part done in {seconds:.0f} s: seeds {', '.join(map(str, only_seeds))}; seeds "
                    f"{', '.join(map(str, left))} still to run (--only-seeds), then the report is written"
                )
                return None
        facts = {
            "wall time of this invocation (s)": round(seconds, 1),
            "device": str(loaded.device),
            "dtype": str(loaded.dtype).replace("torch.", ""),
            "scoring dtype": dtype_name(scoring_dtype),
            "computed on": compute_description(loaded.device, loaded.dtype),
        }
        path = _report_repairing(exp_dir, profile, facts, run)
        update_manifest(
            exp_dir,
            "experiment",
            status="complete",
            seeds_left=[],  # a part's record, stale once the last part completes the experiment
            facts=facts,
            seconds=round(seconds, 1),
            inputs=experiment_inputs(profile),
        )
    return path


def curve(
    exp_dir: str | Path,
    train_task: str,
    eval_sets: list[str] | tuple[EvalSet, ...],
    max_questions: int | None = None,
    strategies: tuple[str, ...] | list[str] = ("first",),
    device: str | None = None,
    progress: bool = True,
    **profile_options: Any,
) -> Path:
    """Learning curves of one training task (``likra curve``): see ``curve_profile`` for options."""
    sets = tuple(s if isinstance(s, EvalSet) else EvalSet.parse(s) for s in eval_sets)
    profile = curve_profile(train_task, sets, max_questions, list(strategies), **profile_options)
    return reproduce(exp_dir, profile, device=device, progress=progress)


def negatives(
    exp_dir: str | Path,
    train_task: str = "arc",
    eval_sets: list[str] | tuple[EvalSet, ...] = ("arc_challenge:test",),
    max_questions: int | None = None,
    strategies: tuple[str, ...] | list[str] = NEGATIVE_STRATEGIES,
    device: str | None = None,
    progress: bool = True,
    **profile_options: Any,
) -> Path:
    """The learning curve of each negative strategy (``likra negatives``): near-miss vs
    implausible negatives, measured on the same seeds."""
    options = {"points": "checkpoints", "ablation": False} | profile_options
    return curve(exp_dir, train_task, list(eval_sets), max_questions, strategies, device, progress, **options)


def likelihoods(exp_dir: str | Path) -> list[dict[str, Any]]:
    """How the gold, the most plausible wrong and the other wrong answers move under base, pos and
    neg with N (``likra likelihoods``): one row per N, each value an ``Estimate``."""
    from likra.experiments.analysis import likelihood_table, load_results, main_key

    profile = load_profile(Path(exp_dir))
    return likelihood_table(load_results(Path(exp_dir), profile), main_key(profile))


REPORT_BUSY = (
    "in use by another likra process (a reproduce or curve writing into it); "
    "run likra report again when it has finished"
)


def report(exp_dir: str | Path) -> Path:
    """Rebuild REPORT.md, plots and CSVs of an experiment from its directory alone.

    Holds the experiment's lock: no report is built from a folder that a running ``reproduce`` or
    ``curve`` is still writing into (that command is refused with ``REPORT_BUSY``)."""
    exp_dir = Path(exp_dir)
    load_profile(exp_dir)  # not an experiment folder: said before a lock or folder is made
    with locked(exp_dir, busy=REPORT_BUSY):
        return build_report(exp_dir)


def _report_repairing(exp_dir: Path, profile: Profile, facts: dict, recompute) -> Path:
    """The report; a damaged score table it meets is dropped (one warning line), ``recompute``
    makes it again, and the report is built again."""
    while True:
        try:
            return build_report(exp_dir, profile, facts)
        except DamagedFileError as damaged:
            if not _drop_damaged_table(exp_dir, damaged):
                raise
            recompute()


def _drop_damaged_table(exp_dir: Path, damaged: DamagedFileError) -> bool:
    """Delete a damaged score table (a cache, which the experiment's run computes again) inside
    ``exp_dir``, after one warning line; False for any other file (a record is never dropped)."""
    path = Path(damaged.file or "")
    if not is_score_table(path) or not path.resolve().is_relative_to(exp_dir.resolve()):
        return False
    warn(f"{damaged.where}: damaged score table ({damaged.problem}); computing it again")
    path.unlink(missing_ok=True)
    return True
