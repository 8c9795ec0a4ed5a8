"""Every name and path of a run directory and of an experiment directory, in one place.

The directory is the contract between stages; every other module asks this one for names
instead of formatting them itself. Run directory (``likra train`` / ``likra eval``)::

    RUN/config.json                 everything that made the run (settings, seed, versions)
    RUN/manifest.json               which stages are complete (written atomically)
    RUN/.lock                       held while a likra process works in the directory
    RUN/train_log.jsonl             loss per optimiser step
    RUN/checkpoints/N-<q>/{pos,neg}/  peft adapters after q training questions (+ checkpoint.json)
    RUN/resume/                     heads + optimiser state to continue an interrupted run
    RUN/eval/<eval folder>/base.jsonl        base-model scores (when the run owns them)
    RUN/eval/<eval folder>/<checkpoint>/     scores.jsonl, metrics.json, score_stats.json

``N-0`` is the untrained checkpoint (both heads have B = 0). An eval folder is named
``<task>-<split>-<k>shot[-lmeval][-limit<L>][-noq]``; ``-noq`` marks the question-ablated control.
Experiment directory (``likra reproduce`` / ``likra curve``)::

    EXP/profile.json                the profile that made it
    EXP/manifest.json               stages, and the list of its runs with their specs
    EXP/base/<eval folder>/         base.jsonl + base_stats.json shared by every run, uncond.jsonl
    EXP/base/train-<task>-seed<s>-n<N>.jsonl   base scores of training questions (hardest/easiest)
    EXP/runs/<task>/<run name>/     ordinary run directories: <strategy>-s<seed>[-noq][-n<N>]
    EXP/report/                     REPORT.md, plots, CSV and JSON
    EXP/progress.jsonl              the overall progress and ETA while it ran
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from likra.errors import LikraError
from likra.methods import DEFAULT_METHOD

CONFIG = "config.json"
MANIFEST = "manifest.json"
LOCK = ".lock"
PROFILE = "profile.json"
TRAIN_LOG = "train_log.jsonl"
TRAIN_IDS = "train_ids.json"  # the run's training question ids, in training order
CHECKPOINT_INFO = "checkpoint.json"
RESUME_STATE = "state.json"
BASE_SCORES = "base.jsonl"
BASE_STATS = "base_stats.json"
UNCONDITIONAL_SCORES = "uncond.jsonl"
SCORES = "scores.jsonl"
METRICS = "metrics.json"
SCORE_STATS = "score_stats.json"
BASE_ONLY = "base"  # the checkpoint folder of a bare model's evaluation
ABLATED_SUFFIX = "-noq"  # the question-ablated control: runs, curve groups, eval folders
UNTRAINED = "N-0"
SHARED_BASE = "base"  # EXP/base/: score tables shared by an experiment's runs
SHARED_HEADS = "heads"  # EXP/base/<eval folder>/heads/: head columns by adapter digest
_CHECKPOINT = re.compile(r"N-(\d+)")


GENERATIONS = "generations"  # RUN/generations/<eval folder>/<checkpoint>/<mode>.jsonl: open-ended answers


def generation_file(mode: str, knobs: Mapping[str, float] | None = None) -> str:
    """``contrastive.jsonl``, or with the decoding knobs tried on validation
    ``contrastive-weight0.5-alpha0.1.jsonl``."""
    return "-".join([mode, *(f"{k}{v:g}" for k, v in (knobs or {}).items())]) + ".jsonl"


def checkpoint_name(questions: int) -> str:
    """``N-<questions>``: the checkpoint after that many training questions."""
    return f"N-{questions}"


def checkpoint_questions(name: str) -> int:
    """The number of training questions of a checkpoint name (``N-64`` -> 64)."""
    match = _CHECKPOINT.fullmatch(name)
    if match is None:
        raise LikraError(f"not a checkpoint name: {name!r} (expected N-<questions>, e.g. N-64)")
    return int(match.group(1))


def is_checkpoint_name(name: str) -> bool:
    return _CHECKPOINT.fullmatch(name) is not None


def task_label(task: str) -> str:
    """A folder-safe name for a task or a .jsonl file path (the file's stem)."""
    return Path(task).stem if task.endswith(".jsonl") else task


def eval_set_key(task: str, split: str, limit: int | None) -> str:
    """How reports and curves name an evaluation set: ``<task>-<split>[-limit<L>]``."""
    return f"{task_label(task)}-{split}" + (f"-limit{limit}" if limit else "")


def eval_set_title(task: str, split: str, limit: int | None) -> str:
    """How titles name an evaluation set: ``eval_set_key`` without the split repeated when the task
    label already says it (``test.jsonl`` on split test is ``test``, not ``test-test``). Only for
    display: stored data and folders keep ``eval_set_key``."""
    label = task_label(task)
    return (label if label == split else f"{label}-{split}") + (f"-limit{limit}" if limit else "")


FEWSHOT_DRAW = "lmeval"  # k-shot demonstrations drawn as lm-eval draws them (earlier: per item)


def eval_folder_name(task: str, split: str, shots: int, limit: int | None, ablated: bool = False) -> str:
    """``<task>-<split>-<k>shot[-lmeval][-limit<L>][-noq]``: one folder per scored item set.

    k-shot folders name how their demonstrations were drawn, so scores cached by a likra that drew
    them differently are never mixed with new ones."""
    shot = f"{shots}shot" + (f"-{FEWSHOT_DRAW}" if shots else "")
    name = f"{task_label(task)}-{split}-{shot}" + (f"-limit{limit}" if limit else "")
    return name + (ABLATED_SUFFIX if ablated else "")


def run_name(
    strategy: str, seed: int, ablated: bool = False, subset_questions: int | None = None, method: str = "likra"
) -> str:
    """An experiment's run: ``<strategy>[-<method>]-s<seed>[-noq][-n<N>]`` (``-n`` for nested-subset
    runs; no method part for likra's own runs)."""
    name = f"{strategy}{_method_part(method)}-s{seed}" + (ABLATED_SUFFIX if ablated else "")
    return name + (f"-n{subset_questions}" if subset_questions is not None else "")


def curve_group(strategy: str, ablated: bool = False, method: str = "likra") -> str:
    """Runs that are seeds of one curve share a group name: the strategy, ``-<method>`` for a
    method other than likra, ``-noq`` if ablated."""
    return strategy + _method_part(method) + (ABLATED_SUFFIX if ablated else "")


def _method_part(method: str) -> str:
    return "" if method == DEFAULT_METHOD else f"-{method}"


def is_score_table(path: Path) -> bool:
    """A score table that likra wrote: a cache that the command that made it computes again (base,
    checkpoint and unconditional scores, an experiment's head columns and training base scores)."""
    path = Path(path)
    shared = path.suffix == ".jsonl" and path.parent.name in (SHARED_HEADS, SHARED_BASE)
    return path.name in (SCORES, BASE_SCORES, UNCONDITIONAL_SCORES) or shared


def damage_hint(path: Path) -> str | None:
    """What to do about a damaged file (torn, truncated, edited), by its name: a record of the
    user's (settings, stages) is never rebuilt silently; a score table can be computed again."""
    name = Path(path).name
    if name == CONFIG:
        return "it records the run's settings and cannot be rebuilt; restore it from a copy, or use a new run folder"
    if name == PROFILE:
        return (
            "it records the experiment's settings and cannot be rebuilt; restore it from a copy, "
            "or use a new experiment folder"
        )
    if name == MANIFEST:
        return (
            "it records which stages are complete; restore it from a copy, or delete it and re-run the "
            "command that made this folder (finished work is found again and kept)"
        )
    if name == RESUME_STATE:
        return (
            "the run's resume state; delete the run's resume/ folder and re-run: training starts again "
            "from step 0 (complete checkpoints are kept)"
        )
    if name == TRAIN_IDS:
        return "it lists the run's training questions; restore it from a copy, or use a new run folder"
    if is_score_table(path):
        return (
            "a score table; re-run the command that made it (likra eval, or likra reproduce or curve "
            "with the same options for an experiment) to compute it again"
        )
    return None


RUNS_ROOT = "runs"  # where likra puts the folders it names itself (``likra eval MODEL`` without --out)


def default_eval_root(model: str) -> Path:
    """Where ``likra eval MODEL`` writes when no ``--out`` is given."""
    return Path(RUNS_ROOT) / f"eval-{Path(str(model)).name}"


def safe_child(parent: Path, name: str) -> Path:
    """``parent/name`` for a name taken from data, refusing anything that escapes ``parent``."""
    if not name or name in (".", "..") or "/" in name or "\\" in name or "\x00" in name:
        raise LikraError(f"unsafe name for a file or folder: {name!r}")
    child = (parent / name).resolve()
    if child.parent != parent.resolve():
        raise LikraError(f"unsafe name for a file or folder: {name!r}")
    return child


@dataclass(frozen=True)
class RunLayout:
    """The paths of one run directory."""

    root: Path

    @property
    def config(self) -> Path:
        return self.root / CONFIG

    @property
    def manifest(self) -> Path:
        return self.root / MANIFEST

    @property
    def train_log(self) -> Path:
        return self.root / TRAIN_LOG

    @property
    def train_ids(self) -> Path:
        return self.root / TRAIN_IDS

    @property
    def checkpoints(self) -> Path:
        return self.root / "checkpoints"

    @property
    def resume(self) -> Path:
        return self.root / "resume"

    @property
    def trainer_state(self) -> Path:
        """Resume state of runs trained by TRL's trainers (DPO, KTO): transformers' own format."""
        return self.root / "trainer-state"

    def checkpoint(self, name: str) -> Path:
        return safe_child(self.checkpoints, name)

    def head(self, checkpoint: str, head: str) -> Path:
        return self.checkpoint(checkpoint) / head

    def complete_checkpoints(self, heads: Sequence[str], weights_file: str) -> list[str]:
        """Complete checkpoints (info file and every head's weights), by training questions."""
        if not self.checkpoints.exists():
            return []
        names = [
            p.name
            for p in self.checkpoints.iterdir()
            if is_checkpoint_name(p.name)
            and (p / CHECKPOINT_INFO).exists()
            and all((p / h / weights_file).exists() for h in heads)
        ]
        return sorted(names, key=checkpoint_questions)

    def incomplete_checkpoints(self, heads: Sequence[str], weights_file: str) -> list[Path]:
        """Checkpoint folders (``N-*``) without their info file or a head's weights: a save that
        did not finish (or files removed by hand). They are skipped, never used."""
        if not self.checkpoints.exists():
            return []
        complete = set(self.complete_checkpoints(heads, weights_file))
        found = [p for p in self.checkpoints.iterdir() if is_checkpoint_name(p.name) and p.name not in complete]
        return sorted(found, key=lambda p: checkpoint_questions(p.name))

    def partial_checkpoints(self) -> list[Path]:
        """Temporary checkpoint folders (``.N-*``) that a kill left half written."""
        return sorted(self.checkpoints.glob(".N-*")) if self.checkpoints.exists() else []

    def eval_dir(self, folder: str) -> Path:
        return safe_child(self.root / "eval", folder)

    def eval_checkpoint(self, folder: str, checkpoint: str) -> Path:
        """``eval/<folder>/<checkpoint>/``: scores.jsonl, metrics.json, score_stats.json."""
        return safe_child(self.eval_dir(folder), checkpoint)

    def base_scores(self, folder: str) -> Path:
        return self.eval_dir(folder) / BASE_SCORES

    def generations(self, folder: str, checkpoint: str) -> Path:
        """``generations/<folder>/<checkpoint>/``: one JSONL of graded answers per decoding."""
        return safe_child(safe_child(self.root / GENERATIONS, folder), checkpoint)


@dataclass(frozen=True)
class ExperimentLayout:
    """The paths of one experiment directory."""

    root: Path

    @property
    def profile(self) -> Path:
        return self.root / PROFILE

    @property
    def manifest(self) -> Path:
        return self.root / MANIFEST

    @property
    def report(self) -> Path:
        return self.root / "report"

    @property
    def progress_log(self) -> Path:
        """The overall progress and ETA of the last run, one JSON line every few seconds."""
        return self.root / "progress.jsonl"

    def base_folder(self, eval_folder: str) -> Path:
        return safe_child(self.root / SHARED_BASE, eval_folder)

    def base_scores(self, eval_folder: str) -> Path:
        return self.base_folder(eval_folder) / BASE_SCORES

    def shared_head_scores(self, eval_folder: str) -> Path:
        """Score columns of heads by adapter digest: runs whose heads are byte-identical share them."""
        return self.base_folder(eval_folder) / SHARED_HEADS

    def base_generations(self, eval_folder: str) -> Path:
        """The base model's open-ended answers (one set: it has no training seed)."""
        return self.base_folder(eval_folder) / GENERATIONS / generation_file("base")

    def unconditional_scores(self, eval_folder: str) -> Path:
        """log P_base(answer | "Answer:") for every choice: the calibration control."""
        return self.base_folder(eval_folder) / UNCONDITIONAL_SCORES

    def training_base_scores(self, task: str, seed: int, questions: int | None) -> Path:
        return self.root / SHARED_BASE / f"train-{task_label(task)}-seed{seed}-n{questions}.jsonl"

    def run_path(self, train_task: str, name: str) -> Path:
        """A run's directory, relative to the experiment (what the manifest records)."""
        return Path("runs") / task_label(train_task) / name

    def run(self, relative: str | Path) -> RunLayout:
        return RunLayout(self.root / relative)
