"""``likra eval``: score a task under the base model and every checkpoint's heads, then metrics.

Base scores do not depend on the checkpoint: they are computed once per item set and stored
(``base.jsonl``); each checkpoint then costs one pass with its two heads. Every file is written
atomically, so an interrupted evaluation resumes at the first checkpoint without metrics.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from likra import distributed
from likra.data.items import Item
from likra.data.selection import eval_items
from likra.errors import DamagedFileError, LikraError, warn
from likra.io import atomic_write_json, atomic_write_jsonl, read_json, read_jsonl
from likra.layout import (
    BASE_ONLY,
    BASE_SCORES,
    BASE_STATS,
    CONFIG,
    METRICS,
    SCORE_STATS,
    SCORES,
    UNTRAINED,
    RunLayout,
    checkpoint_questions,
    default_eval_root,
    eval_folder_name,
    safe_child,
)
from likra.lm.allocator import release_freed_memory
from likra.lm.packing import BATCH_TOKENS
from likra.methods import DEFAULT_METHOD, method_heads
from likra.metrics import all_metrics
from likra.model.heads import ADAPTER_CONFIG, ADAPTER_WEIGHTS, LoraSettings
from likra.model.load import load_base, pick_device
from likra.model.precision import DEFAULT_DTYPE, SCORING, dtype_name, resolve_dtype
from likra.model.resolve import PACKAGED, check_model_name, looks_local, resolve_model_path
from likra.rundir import locked, update_manifest, warn_incomplete_checkpoints
from likra.score.inputs import inputs_key, score_inputs, with_adapters
from likra.tracking import check_report_to, log_scalars, tracking


def evaluate(
    target: str | Path,
    task: str = "arc_challenge",
    split: str = "test",
    checkpoints: Sequence[str] | str = "all",
    limit: int | None = None,
    shots: int = 0,
    out_dir: str | Path | None = None,
    device: str | None = None,
    progress: bool = True,
    loaded: Any = None,
    batch_tokens: int = BATCH_TOKENS,
    dtype: str = DEFAULT_DTYPE,
    report_to: str = "none",
) -> list[dict]:
    """Evaluate a run directory (every/selected checkpoint + base) or a bare model (base only).

    Returns one metrics dict per checkpoint, in order (``N-0`` = untrained heads). Runs whose
    config says ``question_ablated`` are scored without the question, in a ``-noq`` folder.
    ``dtype`` (auto, fp32, bf16) is the scoring precision; it need not be the training one.
    ``report_to`` (tensorboard, wandb, mlflow) also logs each checkpoint's acc and acc_norm per mode at its N.
    """
    check_report_to(report_to)
    run_config = read_run_config(Path(target))
    if run_config is None and loaded is None:
        check_eval_target(str(target))  # before any folder is made or any Hub request
    model = LazyModel(run_config["model"] if run_config else str(target), device, dtype, loaded)
    if run_config is None:  # a model folder's config.json is not a run's
        return evaluate_model(model, task, split, limit, shots, out_dir, progress, batch_tokens)
    ablated = bool(run_config.get("question_ablated", False))
    folder = eval_folder_name(task, split, shots, limit, ablated)
    run = RunLayout(Path(target))
    chosen = choose_checkpoints(run, checkpoints, run_heads(run_config))
    items = eval_items(task, split, limit, shots, ablate=ablated)
    about = {"task": task, "split": split, "model": run_config["model"], "shots": shots}
    results = evaluate_run(
        run.root,
        items,
        folder,
        chosen,
        run.base_scores(folder),
        about,
        model,
        progress=progress,
        batch_tokens=batch_tokens,
    )
    with tracking(report_to, run.root):
        for metrics in results:
            for mode, values in metrics["modes"].items():
                log_scalars(f"eval/{folder}/{mode}", checkpoint_questions(metrics["checkpoint"]), values)
    return results


def check_eval_target(target: str) -> None:
    """``likra eval TARGET`` where TARGET is not a run folder: it must be a model, and a TARGET
    that names a local path (``looks_local``) is looked for here only, never on the Hub."""
    if target not in PACKAGED and looks_local(target) and not target.endswith(".gguf"):
        path = Path(target).expanduser()
        if not path.exists():
            raise LikraError("no such run folder or model directory", file=target)
        if path.is_dir() and not (path / CONFIG).exists():
            raise LikraError(f"neither a run folder nor a model directory: {CONFIG} is missing", file=target)
    check_model_name(target)


@dataclass
class LazyModel:
    """The base model to score with, loaded on first use: cached scores may need none.

    ``dtype`` is the *scoring* precision: "auto"/None is fp32 (``resolve_dtype``)."""

    name: str
    device: str | None = None
    dtype: str | None = None
    loaded: Any = None
    loaded_here: bool = field(default=False, init=False, repr=False)

    def get(self) -> Any:
        if self.loaded is None:
            self.loaded = load_base(self.name, device=self.device, dtype=self.dtype_name())
            self.loaded_here = True
        return self.loaded

    def release(self) -> bool:
        """Drop the copy this object loaded itself (never a model passed in); the next ``get``
        loads it again, in a fraction of a second from the converted files. True if one was dropped.

        Training in bf16 while scoring in fp32 would otherwise hold both models through every
        training step (SmolLM2-135M's fp32 copy: 0.50 GB once scoring has touched its weights)."""
        if not self.loaded_here:
            return False
        self.loaded, self.loaded_here = None, False
        return True

    def dtype_name(self) -> str:
        """The scoring precision's name, without loading the model."""
        if self.loaded is not None:
            return dtype_name(self.loaded.dtype)
        return dtype_name(resolve_dtype(pick_device(self.device), self.dtype, SCORING))

    def inputs(self, items: Sequence[Item], batch_tokens: int) -> dict:
        """What a base score table of ``items`` depends on (``likra.score.inputs``), without loading
        the model's weights into memory."""
        path = self.loaded.path if self.loaded is not None else resolve_model_path(self.name)
        device = self.loaded.device if self.loaded is not None else pick_device(self.device)
        return score_inputs(items, path, self.dtype_name(), device, batch_tokens)


def evaluate_model(
    model: LazyModel,
    task: str,
    split: str,
    limit: int | None,
    shots: int,
    out_dir: str | Path | None,
    progress: bool = True,
    batch_tokens: int = BATCH_TOKENS,
) -> list[dict]:
    """Base-model scores and metrics of a bare model, in ``out_dir`` (default ``runs/eval-<model>``)."""
    root = Path(out_dir) if out_dir else default_eval_root(model.name)
    items = _nonempty(eval_items(task, split, limit, shots), task, split)  # a bad --task is named first
    folder = safe_child(root / "eval", eval_folder_name(task, split, shots, limit))  # user-given names
    with locked(root):
        inputs = model.inputs(items, batch_tokens)
        base_rows = score_base(items, folder / BASE_SCORES, model, progress, batch_tokens, inputs)
        about = {"task": task, "split": split, "model": model.name, "shots": shots, "checkpoint": None}
        out = folder / BASE_ONLY
        atomic_write_jsonl(out / SCORES, base_rows)
        return [write_metrics(out, base_rows, about, modes=["base"], inputs=inputs)]


def evaluate_run(
    run_dir: Path,
    items: Sequence[Item],
    folder: str,
    checkpoints: Sequence[str],
    base_path: Path,
    about: dict,
    model: LazyModel,
    progress: bool = True,
    batch_tokens: int = BATCH_TOKENS,
    shared_heads: Path | None = None,
) -> list[dict]:
    """Score ``items`` under each checkpoint's heads into ``RUN/eval/<folder>/<checkpoint>/``.

    The base scores are read from ``base_path`` (computed there first if missing), so runs of one
    model may share them; with ``shared_heads``, so may heads with identical adapter files.
    ``about`` (task, split, model, shots) is copied into metrics.json.
    """
    run = RunLayout(run_dir)
    items = _nonempty(list(items), about["task"], about["split"])
    head_names = run_heads(read_run_config(run.root))
    results = []
    with locked(run.root):
        base_inputs = model.inputs(items, batch_tokens)
        base_rows = score_base(items, base_path, model, progress, batch_tokens, base_inputs)
        heads = _HeadScorer(run, model, batch_tokens, head_names, shared_heads, base_inputs)
        for name in checkpoints:
            out = run.eval_checkpoint(folder, name)
            adapters = {} if name == UNTRAINED else {h: adapter_digest(run.head(name, h)) for h in head_names}
            inputs = with_adapters(base_inputs, adapters)
            cached = _read_metrics(out / METRICS)
            # Metrics are trusted with their scores only: a torn or short scores.jsonl is scored again.
            if (
                cached is not None
                and cached.get("inputs") == inputs
                and cached_table(out / SCORES, items, name) is not None
            ):
                results.append(cached)
                continue
            head_rows = None if name == UNTRAINED else heads.score(name, items, out, progress)
            rows = merge_scores(base_rows, head_rows, head_names)
            atomic_write_jsonl(out / SCORES, rows)
            results.append(write_metrics(out, rows, {**about, "checkpoint": name}, inputs=inputs))
        heads.close()
        update_manifest(run.root, f"eval:{folder}", status="complete", checkpoints=list(checkpoints))
    return results


def run_heads(run_config: dict | None) -> tuple[str, ...]:
    """The adapters each checkpoint of a run holds, from its training method (default likra)."""
    return method_heads((run_config or {}).get("method", DEFAULT_METHOD))


def choose_checkpoints(
    run: RunLayout, checkpoints: Sequence[str] | str, heads: Sequence[str] = method_heads(DEFAULT_METHOD)
) -> list[str]:
    """``all`` (N-0 and every complete checkpoint), ``final``, or the listed names (checked)."""
    available = run.complete_checkpoints(heads, ADAPTER_WEIGHTS)
    warn_incomplete_checkpoints(run, heads, ADAPTER_WEIGHTS)
    if checkpoints == "all":
        return [UNTRAINED] + available
    if checkpoints == "final":
        return available[-1:] or [UNTRAINED]
    chosen = list(checkpoints)
    unknown = [c for c in chosen if c != UNTRAINED and c not in available]
    if unknown:
        raise LikraError(
            f"no checkpoint {unknown[0]} in this run; it has {', '.join(available) or 'none'}", file=run.root
        )
    return chosen


def score_base(
    items: Sequence[Item],
    path: Path,
    model: LazyModel,
    progress: bool,
    batch_tokens: int,
    inputs: dict | None = None,
) -> list[dict]:
    """The base model's score table of ``items``, computed once and cached at ``path``.

    The cache is used only when ``base_stats.json`` beside it records the same ``inputs`` (items,
    weights, precision, device, packing: ``likra.score.inputs``); otherwise it is computed again."""
    inputs = inputs if inputs is not None else model.inputs(items, batch_tokens)
    stats_path = path.parent / BASE_STATS
    if path.exists() and (_read_metrics(stats_path) or {}).get("inputs") == inputs:
        rows = cached_table(path, items, "base scores")
        if rows is not None:
            return rows
    loaded = model.get()
    rows, stats = score_table(loaded, loaded.model, items, ("base",), progress, batch_tokens)
    # Rows first, their record second: a kill in between leaves rows that will not be trusted.
    atomic_write_jsonl(path, rows)
    atomic_write_json(stats_path, {**stats, "inputs": inputs})
    # The rows as written and read back (JSON floats round-trip exactly); in a multi-process job
    # only the main process writes, so the others keep theirs from memory.
    return [json.loads(json.dumps(row)) for row in rows]


# peft config fields that are sets (their list order means nothing).
SET_VALUED_CONFIG_KEYS = ("target_modules", "modules_to_save", "exclude_modules", "trainable_token_indices")


class _HeadScorer:
    """Loads each checkpoint's heads into one peft wrapper (made on first use) and scores them.

    With ``shared`` (a folder per item set, e.g. an experiment's), a head whose adapter files are
    byte-identical to one scored before is read from there instead of scored again: a likra run's
    pos head never sees its negatives, so every negative type repeats the main curve's pos head.
    """

    def __init__(
        self,
        run: RunLayout,
        model: LazyModel,
        batch_tokens: int,
        heads: Sequence[str],
        shared: Path | None = None,
        inputs: dict | None = None,
    ):
        self.run, self.model, self.batch_tokens, self.peft_model = run, model, batch_tokens, None
        self.heads, self.shared, self.inputs = tuple(heads), shared, inputs or {}

    def score(self, checkpoint: str, items: Sequence[Item], out: Path, progress: bool) -> list[dict]:
        from likra.model.heads import attach_heads, load_head_weights

        keys = {head: self._shared_path(checkpoint, head) for head in self.heads}
        reused = {head: _read_column(path, items) for head, path in keys.items() if path is not None and path.exists()}
        reused = {head: rows for head, rows in reused.items() if rows is not None}
        to_score = tuple(head for head in self.heads if head not in reused)
        stats: dict = {"variants": [], "reused": sorted(reused)}
        scored: list[dict] = []
        if to_score:
            loaded = self.model.get()
            if self.peft_model is None:
                self.peft_model = attach_heads(loaded.model, lora_settings(read_run_config(self.run.root)), self.heads)
            for head in to_score:
                load_head_weights(self.peft_model, self.run.head(checkpoint, head), head)
            match_adapter_dtype(self.peft_model, loaded.dtype)
            scored, stats = score_table(loaded, self.peft_model, items, to_score, progress, self.batch_tokens)
            release_freed_memory()  # each checkpoint's scoring frees what the next one would not reuse
            stats["reused"] = sorted(reused)
            for head in to_score:
                if keys[head] is not None:
                    atomic_write_jsonl(keys[head], _head_column(scored, head))
        atomic_write_json(out / SCORE_STATS, stats)
        return [
            {
                "id": item.id,
                "choices": [
                    {
                        head: (reused[head][i]["loglik"][c] if head in reused else scored[i]["choices"][c][head])
                        for head in self.heads
                    }
                    for c in range(item.n_choices)
                ],
            }
            for i, item in enumerate(items)
        ]

    def _shared_path(self, checkpoint: str, head: str) -> Path | None:
        # Several processes would each decide alone whether a column is there yet, and one
        # scoring while another reads would hang the collective sums: no sharing then.
        if self.shared is None or distributed.world() > 1:
            return None
        digest = adapter_digest(self.run.head(checkpoint, head))
        # Keyed on the adapter and on everything else the column depends on (items, model, precision).
        return self.shared / f"{digest[:32]}-{inputs_key({**self.inputs, 'batch_tokens': self.batch_tokens})}.jsonl"

    def close(self) -> None:
        if self.peft_model is not None:
            self.peft_model.unload()  # give the caller its plain base model back


def adapter_digest(head_dir: Path) -> str:
    """sha256 of a peft adapter's weights and config: equal digests, equal scores.

    The config is read as data: peft keeps ``target_modules`` as a set and writes it in the
    process's string-hash order, so the same adapter saved by two processes differs in bytes."""
    digest = hashlib.sha256((head_dir / ADAPTER_WEIGHTS).read_bytes())
    config = json.loads((head_dir / ADAPTER_CONFIG).read_text())
    for key in SET_VALUED_CONFIG_KEYS:
        if isinstance(config.get(key), list):
            config[key] = sorted(config[key])
    digest.update(json.dumps(config, sort_keys=True).encode())
    return digest.hexdigest()


def cached_table(path: Path, items: Sequence[Item], what: str) -> list[dict] | None:
    """The rows of a cached score table of ``items`` (one row per item, in order), or None with a
    one-line warning when the file is torn, empty, short or for other items: the caller then
    computes ``what`` again. A missing file is None without a warning."""
    if not path.exists():
        return None
    try:
        rows = read_jsonl(path)
    except DamagedFileError as damaged:
        warn(f"{damaged.where}: damaged score table ({damaged.problem}); scoring {what} again")
        return None
    if len(rows) != len(items):
        warn(f"{path}: damaged score table ({len(rows)} rows for {len(items)} items); scoring {what} again")
        return None
    for number, (row, item) in enumerate(zip(rows, items), 1):
        if not isinstance(row, dict) or row.get("id") != item.id:
            found = row.get("id") if isinstance(row, dict) else row
            warn(f"{path}:{number}: damaged score table (item {found!r}, expected {item.id!r}); scoring {what} again")
            return None
    return rows


def _read_column(path: Path, items: Sequence[Item]) -> list[dict] | None:
    """A shared head column, or None when it is not for these items (then the head is scored)."""
    try:
        rows = read_jsonl(path)
    except DamagedFileError as damaged:
        warn(f"{damaged.where}: damaged score table ({damaged.problem}); scoring the head again")
        return None
    same = len(rows) == len(items) and all(
        row["id"] == item.id and len(row["loglik"]) == item.n_choices for row, item in zip(rows, items, strict=True)
    )
    return rows if same else None


def _head_column(rows: Sequence[dict], head: str) -> list[dict]:
    return [{"id": row["id"], "loglik": [choice[head] for choice in row["choices"]]} for row in rows]


def match_adapter_dtype(peft_model: Any, dtype: Any) -> None:
    """Score with the LoRA weights in the base model's precision: peft keeps them fp32 (right for
    training), which on a bf16 base costs a dtype round trip at every adapted layer (~10% of a
    scoring pass on SmolLM2)."""
    for name, param in peft_model.named_parameters():
        if "lora_" in name and param.dtype != dtype:
            param.data = param.data.to(dtype)


def merge_scores(
    base_rows: Sequence[dict], head_rows: Sequence[dict] | None, heads: Sequence[str] = method_heads(DEFAULT_METHOD)
) -> list[dict]:
    """Per item and choice: base and every head (pos, neg for likra); without heads each head's
    score is the base's (untrained, B = 0)."""
    head_names, merged = tuple(heads), []
    for index, base in enumerate(base_rows):
        heads = head_rows[index] if head_rows is not None else None
        if heads is not None and heads["id"] != base["id"]:
            raise LikraError(f"score tables are out of order at item {index}")
        choices = []
        for c, choice in enumerate(base["choices"]):
            entry = dict(choice)
            for head in head_names:
                entry[head] = choice["base"] if heads is None else heads["choices"][c][head]
            choices.append(entry)
        merged.append({"id": base["id"], "gold": base["gold"], "choices": choices})
    return merged


def read_run_config(target: Path) -> dict | None:
    """The likra config of a run directory, or None when ``target`` is not one."""
    run = RunLayout(target)
    path = run.config
    if not path.is_file():
        return None
    try:
        config = read_json(path)
    except DamagedFileError:
        if run.manifest.exists() or run.checkpoints.exists():
            raise  # a run's settings, named with what to do; never taken for a model folder
        return None
    except OSError:
        return None
    return config if isinstance(config, dict) and "lora" in config and "model" in config else None


def lora_settings(run_config: dict) -> LoraSettings:
    lora = dict(run_config["lora"])
    lora["target_modules"] = tuple(lora["target_modules"])
    return LoraSettings(**lora)


def score_table(
    loaded: Any, model: Any, items: Sequence[Item], variants: Sequence[str], progress: bool, batch_tokens: int
) -> tuple[list[dict], dict]:
    """Score rows of ``items`` under ``variants`` and the stats stored beside them."""
    from likra.score.scorer import score_items

    rows, stats = score_items(
        model,
        loaded.tokenizer,
        items,
        variants,
        max_length=loaded.max_length,
        progress=progress,
        batch_tokens=batch_tokens,
    )
    if stats.n_truncated:
        print(
            f"note: {stats.n_truncated} of {stats.n_choices} contexts were longer than the model's "
            f"maximum length ({loaded.max_length}) and were truncated from the left"
        )
    return rows, {
        "variants": list(variants),
        "n_items": stats.n_items,
        "n_choices": stats.n_choices,
        "n_truncated": stats.n_truncated,
        "seconds": round(stats.seconds, 3),
        "choices_per_second": round(stats.choices_per_second, 2),
        "input_tokens": stats.input_tokens,
        "dtype": dtype_name(loaded.dtype),
        "scored_at": time.strftime("%Y-%m-%dT%H:%M:%S"),
    }


def _read_metrics(path: Path) -> dict | None:
    """A cached metrics or stats file, or None when it is missing or torn (it is then recomputed,
    after a one-line warning)."""
    if not path.is_file():
        return None
    try:
        data = read_json(path)
    except DamagedFileError as damaged:
        warn(f"{damaged.where}: damaged cache record ({damaged.problem}); its scores are computed again")
        return None
    except (OSError, ValueError, LikraError):
        return None
    return data if isinstance(data, dict) else None


def write_metrics(
    out: Path, rows: list[dict], about: dict, modes: Sequence[str] | None = None, inputs: dict | None = None
) -> dict:
    """metrics.json: every mode's acc/acc_norm (or only ``modes``) with what was scored, and the
    ``inputs`` the scores depend on (the cache key)."""
    metrics = {
        "task": about["task"],
        "split": about["split"],
        "n_items": len(rows),
        "model": about["model"],
        "checkpoint": about["checkpoint"],
        "shots": about["shots"],
        "modes": all_metrics(rows, modes),
    }
    if inputs is not None:
        metrics["inputs"] = inputs
    atomic_write_json(out / METRICS, metrics)
    return metrics


def _nonempty(items: list[Item], task: str, split: str) -> list[Item]:
    if not items:
        raise LikraError(f"task '{task}' split '{split}' has no items")
    return items
