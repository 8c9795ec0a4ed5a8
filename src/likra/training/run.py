"""``likra train``: from a task name to a run directory with checkpoints of both heads."""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict
from pathlib import Path
from typing import Any

from likra.data.pairs import NEEDS_BASE_SCORES, QuestionExamples, build_pairs
from likra.data.selection import load_items, training_items
from likra.errors import LikraError
from likra.io import atomic_write_json, read_json, read_jsonl
from likra.layout import RunLayout
from likra.lm.allocator import large_blocks_mapped
from likra.methods import DEFAULT_METHOD, METHOD_SETTINGS, PREFERENCE_METHODS, TRL, get_method, method_heads
from likra.model.heads import ADAPTER_WEIGHTS, LoraSettings, attach_heads
from likra.model.load import pick_device
from likra.model.precision import DEFAULT_DTYPE, dtype_name, resolve_dtype
from likra.model.resolve import DEFAULT_MODEL, check_model_name, sha256_file
from likra.rundir import check_config, locked, read_manifest, warn_incomplete_checkpoints
from likra.tracking import check_report_to, tracking
from likra.training.loop import TrainSettings, complete_checkpoints, set_activation_checkpointing, train_heads
from likra.training.preference import PreferenceSettings, preference_rows, train_preference


def base_scores_from_file(path: str | Path) -> dict[str, list[float]]:
    """``{item id: base log-likelihood per choice}`` from a ``likra eval`` scores file."""
    path = Path(path)
    if not path.exists():
        raise LikraError("base scores file does not exist", file=path)
    return {str(row["id"]): [c["base"] for c in row["choices"]] for row in read_jsonl(path)}


def train(
    run_dir: str | Path,
    model: str = DEFAULT_MODEL,
    task: str = "arc",
    split: str = "train",
    strategy: str = "first",
    max_questions: int | None = None,
    lora: LoraSettings = LoraSettings(),
    settings: TrainSettings = TrainSettings(),
    base_scores: str | Path | None = None,
    contamination: float = 0.0,
    device: str | None = None,
    progress: bool = True,
    loaded: Any = None,
    question_ablated: bool = False,
    dtype: str = DEFAULT_DTYPE,
    method: str = DEFAULT_METHOD,
    preference: PreferenceSettings = PreferenceSettings(),
    report_to: str = "none",
) -> list[str]:
    """Train the heads of ``method``; returns the checkpoint names (``N-32``, ``N-64``, ...).

    ``likra`` trains the pos and neg heads; ``sft`` the pos head alone; ``unlikelihood``, ``dpo``
    and ``kto`` one adapter named after the method, on the same questions and negatives.

    Re-running on a finished run returns its checkpoints; on an interrupted run it resumes.
    ``loaded`` may pass an already loaded ``BaseModel`` (its heads are replaced). ``dtype``: auto,
    fp32 or bf16 for the frozen base (LoRA weights and optimiser state stay fp32).
    """
    run_dir = Path(run_dir)
    check_report_to(report_to)
    if strategy in NEEDS_BASE_SCORES and base_scores is None:
        build_pairs([], strategy)  # raises the explanatory error
    if loaded is None and not RunLayout(run_dir).config.exists():
        check_model_name(model)  # a mistyped model path fails before the run folder is made
    config = {
        "stage": "train",
        "model": model,
        "task": task,
        "split": split,
        "strategy": strategy,
        "max_questions": max_questions,
        "contamination": contamination,
        "base_scores": _base_scores_record(run_dir, base_scores),
        "question_ablated": question_ablated,
        "dtype": dtype_name(loaded.dtype if loaded is not None else resolve_dtype(pick_device(device), dtype)),
        "lora": lora.to_dict(),
        "train": settings.to_dict(),
    }
    _add_method(config, method, preference)
    pairs = training_pairs(
        task, split, strategy, settings.seed, max_questions, question_ablated, base_scores, contamination
    )
    if method in PREFERENCE_METHODS:
        preference_rows(method, pairs)  # uneven negatives fail before the config is written
    _record_data(run_dir, config, pairs)
    with locked(run_dir):
        warn_incomplete_checkpoints(RunLayout(run_dir), method_heads(method), ADAPTER_WEIGHTS)
        if _finished(run_dir, config):
            return complete_checkpoints(run_dir, method)
        base = loaded if loaded is not None else _load_base(model, device, dtype)
        if method in PREFERENCE_METHODS:  # TRL wraps the model itself
            # Attached once and removed, so that a bad --lora-targets fails before the config is written.
            _attach(base.model, lora, settings.seed, (method,)).unload()
            check_config(run_dir, config)
            atomic_write_json(RunLayout(run_dir).train_ids, [str(pair.item_id) for pair in pairs])
            with tracking(report_to, run_dir, config), large_blocks_mapped():
                return train_preference(
                    base.model,
                    base.tokenizer,
                    pairs,
                    run_dir,
                    method,
                    settings,
                    lora,
                    preference,
                    base.max_length,
                    progress,
                )
        peft_model = _attach(base.model, lora, settings.seed, method_heads(method))
        try:
            # A new run's config is written only once its model and heads load, so a typo in
            # --model leaves no config behind that would refuse the corrected command.
            check_config(run_dir, config)
            # Which questions N covers, so a report can measure train/eval overlap from the directory.
            atomic_write_json(RunLayout(run_dir).train_ids, [str(pair.item_id) for pair in pairs])
            with tracking(report_to, run_dir, config), large_blocks_mapped():
                return train_heads(
                    peft_model, base.tokenizer, pairs, run_dir, settings, base.max_length, progress, method
                )
        finally:
            set_activation_checkpointing(peft_model, False)
            peft_model.unload()  # restore the plain base model (it may be reused by the caller)


def training_pairs(
    task: str,
    split: str,
    strategy: str,
    seed: int,
    max_questions: int | None,
    question_ablated: bool = False,
    base_scores: str | Path | None = None,
    contamination: float = 0.0,
) -> list[QuestionExamples]:
    """The questions a run trains on, in training order, with their negatives."""
    ordered = training_items(load_items(task, split, question_ablated), seed, max_questions)
    scores = base_scores_from_file(base_scores) if base_scores else None
    return build_pairs(ordered, strategy, seed, scores, contamination)


def _base_scores_record(run_dir: Path, base_scores: str | Path | None) -> str | None:
    """What a hardest/easiest run records of the base scores that ranked its negatives: their
    content's sha256, not their path, so an experiment moved or copied elsewhere still resumes.
    Runs made before recorded the path as given; that record stands while it names the same
    content, so they resume too."""
    if not base_scores:
        return None
    if not Path(base_scores).is_file():
        raise LikraError("base scores file does not exist", file=base_scores)
    record = f"sha256:{sha256_file(Path(base_scores))}"
    config = RunLayout(run_dir).config
    saved = read_json(config).get("base_scores") if config.exists() else None
    old_style = isinstance(saved, str) and not saved.startswith("sha256:") and Path(saved).is_file()
    return saved if old_style and f"sha256:{sha256_file(Path(saved))}" == record else record


def pairs_digest(pairs: list[QuestionExamples]) -> str:
    """sha256 of the training examples themselves (ids, contexts, answers), in training order."""
    digest = hashlib.sha256()
    for pair in pairs:
        digest.update(json.dumps(asdict(pair), sort_keys=True, ensure_ascii=False).encode() + b"\n")
    return digest.hexdigest()


def _record_data(run_dir: Path, config: dict, pairs: list[QuestionExamples]) -> None:
    """Add the training data's digest to ``config``; refuse a run folder trained on other data.

    Runs made before the digest existed recorded none; they resume as before."""
    digest = f"sha256:{pairs_digest(pairs)}"
    path = RunLayout(run_dir).config
    saved = read_json(path).get("data", "absent") if path.exists() else None
    if saved == "absent":
        return
    if saved is not None and saved != digest:
        raise LikraError(
            f"this run was trained on data with digest {saved[7:19]}; this data has {digest[7:19]} "
            "(the task file or its questions changed); use a new run folder",
            file=path,
        )
    config["data"] = digest


def _add_method(config: dict, method: str, preference: PreferenceSettings) -> None:
    """Record the method and its own settings. Settings a method does not use stay out of its
    config, so runs made before a setting existed still resume: a likra run's config is what it
    always was."""
    entry = get_method(method)  # an unknown method fails before anything is loaded
    for setting in METHOD_SETTINGS:
        if setting not in entry.settings:
            config["train"].pop(setting)
    if method != DEFAULT_METHOD:
        config["method"] = method
    if entry.trainer == TRL:
        config["preference"] = preference.to_dict()


def _finished(run_dir: Path, config: dict) -> bool:
    """True when the run exists with this config and its training is complete."""
    if not RunLayout(run_dir).config.exists():
        return False
    check_config(run_dir, config)
    return read_manifest(run_dir)["stages"].get("train", {}).get("status") == "complete"


def _load_base(model: str, device: str | None, dtype: str | None) -> Any:
    from likra.model.load import load_base

    return load_base(model, device=device, dtype=dtype)


def _attach(model: Any, lora: LoraSettings, seed: int, heads: tuple[str, ...]) -> Any:
    import torch

    with torch.random.fork_rng(devices=[]):  # LoRA A's init comes from the run's seed alone
        torch.manual_seed(seed)
        return attach_heads(model, lora, heads)
