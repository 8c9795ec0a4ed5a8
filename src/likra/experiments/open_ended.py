"""Finding 11's stage: an experiment's runs answer questions without their choices, graded.

What is generated (profile ``open_ended``, ``likra.experiments.profiles.OpenEnded``):

1. on the validation set, with the first seed's main-curve run at the largest N, every knob
   setting of each mode that has knobs (contrastive: w x alpha; experts: beta);
2. the setting with the best gold share minus known-wrong share (``DECIDING_GRADER``; ties: the
   grid's first) is the mode's decoding on every test set, chosen before any test answer exists;
3. on each test set: the base model once, every main-curve run in each mode and every method run
   in its adapter's mode, at each N of ``eval_n`` the run reaches.

Each file is a ``likra generate --grade`` JSONL (``RUN/generations/<eval folder>/<N>/<mode>.jsonl``),
which also holds the item's choices and gold, so the report grades it again from the directory
alone. A file is reused only when its items and its decoding settings (knobs, length, stop,
checkpoint, model, precision) are this profile's; otherwise it is made again.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from likra import job_progress
from likra.experiments.profiles import EvalSet, OpenEnded, Profile
from likra.experiments.rules import Scores
from likra.generation.grading import DECIDING_GRADER, GRADES, grade
from likra.io import read_jsonl
from likra.layout import UNTRAINED, ExperimentLayout, checkpoint_name, eval_folder_name, generation_file
from likra.methods import DEFAULT_METHOD, method_heads

KIND = "generate"  # the job_progress kind of this stage's work
TASK_STOP = ("\n",)  # a task's answer is one line (likra.generation.run's default for --task)


@dataclass(frozen=True)
class Job:
    """One file of answers: a target (run or base model) at a checkpoint, one decoding, one set."""

    path: Path
    target: str  # a run directory, or the base model's name
    checkpoint: str  # N-...; the untrained name for the base model
    eval_set: EvalSet
    mode: str
    knobs: dict = field(default_factory=dict, hash=False)
    seed: int = 0  # the training seed (0: the base model)
    label: str = ""  # the table's row: the mode, or the method for a method run

    def settings(self, spec: OpenEnded) -> dict[str, Any]:
        """The decoding as ``likra generate`` records it in each row (without the mode)."""
        from likra.generation.decoding import GenerateSettings

        decoding = GenerateSettings(
            mode=self.mode, max_new_tokens=spec.max_new_tokens, stop=TASK_STOP, **self.knobs
        ).describe()
        return {k: v for k, v in decoding.items() if k != "mode"}


def folder_of(eval_set: EvalSet) -> str:
    return eval_folder_name(eval_set.task, eval_set.split, 0, eval_set.limit)


def main_runs(runs: list[dict]) -> list[dict]:
    """The main curve's runs (the manifest's records), in seed order."""
    found = [
        r
        for r in runs
        if r["role"] == "curve" and r.get("method", DEFAULT_METHOD) == DEFAULT_METHOD and not r["ablated"]
    ]
    return sorted(found, key=lambda r: r["seed"])


def validation_jobs(layout: ExperimentLayout, profile: Profile, runs: list[dict]) -> list[Job]:
    """Every knob setting of every mode that has knobs, on the validation set, with the first
    seed's main-curve run at the largest N."""
    spec = profile.open_ended
    main = main_runs(runs)
    if not main:
        return []
    run, checkpoint = layout.run(main[0]["path"]), checkpoint_name(max(spec.eval_n))
    folder = run.generations(folder_of(spec.validation), checkpoint)
    return [
        Job(
            folder / generation_file(mode, knobs),
            str(run.root),
            checkpoint,
            spec.validation,
            mode,
            knobs,
            main[0]["seed"],
            mode,
        )
        for mode in spec.modes
        if len(spec.grid(mode)) > 1
        for knobs in spec.grid(mode)
    ]


def test_jobs(layout: ExperimentLayout, profile: Profile, runs: list[dict], chosen: dict[str, dict]) -> list[Job]:
    """The test sets' files: base once, each main-curve run in each mode, each method run in its
    adapter's mode, at every N of ``eval_n`` the run reaches."""
    spec, main = profile.open_ended, main_runs(runs)
    methods = sorted((r for r in runs if r["role"] == "method"), key=lambda r: (r["method"], r["seed"]))
    jobs = []
    for eval_set in spec.eval_sets:
        folder = folder_of(eval_set)
        jobs.append(Job(layout.base_generations(folder), profile.model, UNTRAINED, eval_set, "base", label="base"))
        for record in main + methods:
            run = layout.run(record["path"])
            is_main = record in main
            modes = spec.modes if is_main else method_heads(record["method"])[:1]
            for n in sorted(n for n in spec.eval_n if n <= (record["max_questions"] or 0)):
                for mode in modes:
                    jobs.append(
                        Job(
                            run.generations(folder, checkpoint_name(n)) / generation_file(mode),
                            str(run.root),
                            checkpoint_name(n),
                            eval_set,
                            mode,
                            chosen.get(mode, {}),
                            record["seed"],
                            mode if is_main else record["method"],
                        )
                    )
    return jobs


def reusable(job: Job, profile: Profile, items: list, dtype: str) -> bool:
    """Whether ``job.path`` holds these items' answers under this decoding (else: make it again)."""
    if not job.path.exists():
        return False
    try:
        rows = read_jsonl(job.path)
    except Exception:  # a torn file is made again  # noqa: BLE001
        return False
    if [r.get("id") for r in rows] != [i.id for i in items]:
        return False
    # Through JSON, as the rows were written (tuples become lists).
    wanted = json.loads(
        json.dumps({**job.settings(profile.open_ended), "checkpoint": _checkpoint_of(job), "dtype": dtype})
    )
    return all({k: r.get("settings", {}).get(k) for k in wanted} == wanted for r in rows)


def _checkpoint_of(job: Job) -> str | None:
    return None if job.mode == "base" else job.checkpoint


def job_gflop(flops: Any, tokenizer: Any, items: list, mode: str, max_new_tokens: int) -> float:
    """Useful GFLOP of generating ``max_new_tokens`` after each item's question in ``mode``: the
    prompt once and each new token once per model variant the mode runs (an upper bound: answers
    stop early at a newline)."""
    from likra.generation.decoding import MODES

    variants = len(MODES[mode].variants)
    prompt_tokens = sum(len(tokenizer(i.contexts[0])["input_ids"]) for i in items)
    return variants * (
        flops.forward_gflop(prompt_tokens, len(items)) + flops.forward_gflop(1, 1) * max_new_tokens * len(items)
    )


def run_open_ended(layout: ExperimentLayout, profile: Profile, runs: list[dict], scoring: Any, log=print) -> None:
    """Make every file the stage needs that is not already there (resumable: file by file)."""
    from likra.generation.run import task_items

    spec, flops = profile.open_ended, None
    for stage in ("validation", "test"):
        if stage == "validation":
            jobs = validation_jobs(layout, profile, runs)
        else:
            jobs = test_jobs(layout, profile, runs, choose_knobs(layout, profile, runs))
        for job in jobs:
            items = task_items(job.eval_set.task, job.eval_set.split, job.eval_set.limit)
            if reusable(job, profile, items, scoring.dtype_name()):
                continue
            loaded = scoring.get()
            if flops is None:
                from likra.lm.flops import ModelFlops

                flops = ModelFlops.of(loaded.model)
            per_item = job_gflop(flops, loaded.tokenizer, items, job.mode, spec.max_new_tokens) / len(items)
            log(
                f"open-ended: {job.label or job.mode} {job.checkpoint} on {job.eval_set.key} {job.knobs or ''}".rstrip()
            )
            generate_job(job, profile, loaded, lambda done: job_progress.advance(KIND, done * per_item))


def generate_job(job: Job, profile: Profile, loaded: Any, progress: Any) -> None:
    from likra.generation.run import generate

    generate(
        job.target,
        task=job.eval_set.task,
        split=job.eval_set.split,
        limit=job.eval_set.limit,
        checkpoint="final" if job.mode == "base" else job.checkpoint,
        mode=job.mode,
        loaded=loaded,
        grade=True,
        out=job.path,
        progress=progress,
        max_new_tokens=profile.open_ended.max_new_tokens,
        stop=TASK_STOP,
        **job.knobs,
    )


def work_left(layout: ExperimentLayout, profile: Profile, runs: list[dict], base: Any, flops: Any) -> float:
    """GFLOP of the files still to make (test files priced with each mode's first knobs: the
    choice does not change the cost)."""
    from likra.generation.run import task_items

    first = {mode: profile.open_ended.grid(mode)[0] for mode in profile.open_ended.modes}
    total = 0.0
    jobs = validation_jobs(layout, profile, runs) + test_jobs(layout, profile, runs, first)
    cache: dict[tuple, list] = {}
    for job in jobs:
        key = (job.eval_set.task, job.eval_set.split, job.eval_set.limit)
        items = cache.setdefault(key, task_items(*key))
        if not job.path.exists():
            total += job_gflop(flops, base.tokenizer, items, job.mode, profile.open_ended.max_new_tokens)
    return total


# --- reading: what the report and finding 11 use (the directory alone) -------------------------


def grade_matrix(rows_by_seed: dict[int, list[dict]], grader: str = DECIDING_GRADER) -> dict[str, Scores]:
    """Per grade, (seeds, items) indicators of the answers' grades, regraded from the rows."""
    seeds = tuple(sorted(rows_by_seed))
    graded = [[grade(r["text"], r["choices"], r["gold"], grader)[0] for r in rows_by_seed[s]] for s in seeds]
    return {g: Scores(np.array([[float(x == g) for x in row] for row in graded]), seeds) for g in GRADES}


def empty_matrix(rows_by_seed: dict[int, list[dict]]) -> Scores:
    """(seeds, items) indicators of answers with no text: the stop string came first (a part of
    ``other``, shown apart so that a silent model is not read as a model that says other things)."""
    seeds = tuple(sorted(rows_by_seed))
    return Scores(np.array([[float(not r["text"].strip()) for r in rows_by_seed[s]] for s in seeds]), seeds)


def gold_minus_wrong(rows: list[dict], grader: str = DECIDING_GRADER) -> float:
    """The validation criterion: share of gold answers minus share of known wrong ones."""
    grades = [grade(r["text"], r["choices"], r["gold"], grader)[0] for r in rows]
    return (grades.count("gold") - grades.count("wrong")) / max(len(grades), 1)


def choose_knobs(layout: ExperimentLayout, profile: Profile, runs: list[dict]) -> dict[str, dict]:
    """Each mode's knobs with the best validation criterion (ties: the grid's first); modes whose
    validation files are not all there yet are left out."""
    chosen: dict[str, dict] = {}
    jobs = validation_jobs(layout, profile, runs)
    for mode in profile.open_ended.modes:
        tried = [j for j in jobs if j.mode == mode]
        if not tried or not all(j.path.exists() for j in tried):
            continue
        values = [gold_minus_wrong(read_jsonl(j.path)) for j in tried]
        chosen[mode] = tried[int(np.argmax(values))].knobs  # argmax: the first of equal values
    return chosen


@dataclass
class OpenEndedResults:
    """The graded answers of an experiment, read from its directory."""

    # (eval key, N, label) -> seed -> rows (N = 0 and seed 0 for the base model)
    rows: dict[tuple[str, int, str], dict[int, list[dict]]]
    chosen: dict[str, dict]  # mode -> the knobs chosen on validation
    validation: list[dict]  # {"mode", "knobs", "gold-wrong"} per setting tried

    def labels(self, eval_key: str, n: int) -> list[str]:
        return [k[2] for k in self.rows if k[:2] == (eval_key, n)]

    def sizes(self, eval_key: str) -> list[int]:
        return sorted({k[1] for k in self.rows if k[0] == eval_key and k[1] > 0})


def load_open_ended(exp_dir: Path, profile: Profile, runs: list[dict]) -> OpenEndedResults | None:
    """Every complete answer file (a label counts at an N only where every seed has it)."""
    if profile.open_ended is None:
        return None
    layout = ExperimentLayout(exp_dir)
    chosen = choose_knobs(layout, profile, runs)
    rows: dict[tuple[str, int, str], dict[int, list[dict]]] = {}
    jobs = test_jobs(layout, profile, runs, chosen)
    for job in jobs:
        if job.path.exists() and (job.mode not in _knobbed(profile) or job.mode in chosen):
            n = 0 if job.mode == "base" else int(job.checkpoint.split("-")[1])
            rows.setdefault((job.eval_set.key, n, job.label), {})[job.seed] = read_jsonl(job.path)
    expected: dict[tuple, int] = {}
    for job in jobs:
        n = 0 if job.mode == "base" else int(job.checkpoint.split("-")[1])
        expected[(job.eval_set.key, n, job.label)] = expected.get((job.eval_set.key, n, job.label), 0) + 1
    rows = {k: v for k, v in rows.items() if len(v) == expected[k]}
    validation = [
        {"mode": j.mode, "knobs": j.knobs, "gold-wrong": gold_minus_wrong(read_jsonl(j.path))}
        for j in validation_jobs(layout, profile, runs)
        if j.path.exists()
    ]
    return OpenEndedResults(rows, chosen, validation)


def _knobbed(profile: Profile) -> set[str]:
    return {m for m in profile.open_ended.modes if len(profile.open_ended.grid(m)) > 1}
