"""``likra eval``: score a task under base and every checkpoint's heads, then compute metrics.

Base scores do not depend on the checkpoint: they are computed once per (model, task, split,
shots, limit) and stored in ``base.jsonl``; each checkpoint then costs one pass with its two
heads. Every file is written atomically, so an interrupted evaluation resumes at the first
checkpoint without ``metrics.json``.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from likra.data.items import Item
from likra.errors import LikraError
from likra.io import atomic_write_json, atomic_write_jsonl, read_json, read_jsonl
from likra.metrics import all_metrics
from likra.rundir import locked, safe_child, update_manifest
from likra.train.loop import sorted_checkpoints

UNTRAINED = "N-0"


def eval_items(
    task: str, split: str, limit: int | None, shots: int, seed: int = 1234, ablate: bool = False
) -> list[Item]:
    """The evaluation items: the first ``limit`` of the split, with k-shot contexts if asked.

    ``ablate`` removes the question (the question-ablated control)."""
    from likra.data.jsonl import resolve_items

    if limit is not None and limit < 1:
        raise LikraError(f"limit must be >= 1, got {limit}", field="limit")
    items = resolve_items(task, split)[:limit]
    if shots:
        from likra.data.fewshot import add_fewshot, fewshot_pool

        items = add_fewshot(items, fewshot_pool(task), shots, seed)
    if ablate:
        from likra.data.transforms import without_question

        items = [without_question(item) for item in items]
    return items


def task_label(task: str) -> str:
    """A folder-safe name for a task or a .jsonl file path."""
    return Path(task).stem if task.endswith(".jsonl") else task


def eval_folder_name(task: str, split: str, shots: int, limit: int | None, ablate: bool = False) -> str:
    name = task_label(task)
    return f"{name}-{split}-{shots}shot" + (f"-limit{limit}" if limit else "") + ("-noq" if ablate else "")


def merge_scores(base_rows: Sequence[dict], head_rows: Sequence[dict] | None) -> list[dict]:
    """Per item and choice: base, pos, neg; without heads, pos = neg = base (untrained, B = 0)."""
    merged = []
    for index, base in enumerate(base_rows):
        heads = head_rows[index] if head_rows is not None else None
        if heads is not None and heads["id"] != base["id"]:
            raise LikraError(f"score tables are out of order at item {index}")
        choices = []
        for c, choice in enumerate(base["choices"]):
            entry = dict(choice)
            if heads is None:
                entry["pos"] = entry["neg"] = choice["base"]
            else:
                entry["pos"], entry["neg"] = heads["choices"][c]["pos"], heads["choices"][c]["neg"]
            choices.append(entry)
        merged.append({"id": base["id"], "gold": base["gold"], "choices": choices})
    return merged


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
    batch_tokens: int = 4096,
    base_dir: str | Path | None = None,
) -> list[dict]:
    """Evaluate a run directory (every/selected checkpoint + base) or a bare model (base only).

    Returns one metrics dict per checkpoint, in order (``N-0`` = untrained heads). Runs whose
    config says ``question_ablated`` are scored without the question. ``base_dir`` shares
    base scores between runs of one model (experiments); default: inside the run.
    """
    from likra.model.heads import HEADS, attach_heads, load_head_weights

    target_path = Path(target)
    run_config = _run_config(target_path)
    is_run = run_config is not None  # a model folder's config.json is not a run's
    if is_run:
        model_name, root = run_config["model"], target_path
        ablate = bool(run_config.get("question_ablated", False))
        available = sorted_checkpoints(target_path / "checkpoints")
        if checkpoints == "all":
            chosen = [UNTRAINED] + available
        elif checkpoints == "final":
            chosen = available[-1:] or [UNTRAINED]
        else:
            chosen = list(checkpoints)
            unknown = [c for c in chosen if c != UNTRAINED and c not in available]
            if unknown:
                raise LikraError(
                    f"no checkpoint {unknown[0]} in this run; it has {', '.join(available) or 'none'}",
                    file=target_path,
                )
    else:
        model_name, chosen, ablate = str(target), [], False
        root = Path(out_dir) if out_dir else Path("runs") / f"eval-{Path(str(target)).name}"
    folder_name = eval_folder_name(task, split, shots, limit, ablate)
    folder = safe_child(root / "eval", folder_name)  # task/split come from the user: stay inside
    base_folder = Path(base_dir) / folder_name if base_dir else folder
    items = eval_items(task, split, limit, shots, ablate=ablate)
    if not items:
        raise LikraError(f"task '{task}' split '{split}' has no items")
    base_model = loaded
    results = []
    with locked(root):
        base_path = base_folder / "base.jsonl"
        if not base_path.exists():
            base_model = base_model or _load(model_name, device)
            rows, stats = _score(base_model, base_model.model, items, ("base",), progress, batch_tokens)
            atomic_write_json(base_folder / "base_stats.json", stats)
            atomic_write_jsonl(base_path, rows)
        base_rows = read_jsonl(base_path)
        if not is_run:
            results.append(_write_metrics(folder / "base", base_rows, _describe(task, split, shots, model_name, None), "base"))
            return results
        peft_model = None
        for name in chosen:
            out = safe_child(folder, name)
            if (out / "metrics.json").exists():
                results.append(read_json(out / "metrics.json"))
                continue
            if name == UNTRAINED:
                head_rows = None
            else:
                base_model = base_model or _load(model_name, device)
                if peft_model is None:
                    peft_model = attach_heads(base_model.model, _lora_settings(run_config))
                for head in HEADS:
                    load_head_weights(peft_model, target_path / "checkpoints" / name / head, head)
                head_rows, stats = _score(base_model, peft_model, items, HEADS, progress, batch_tokens)
                atomic_write_json(out / "score_stats.json", stats)
            rows = merge_scores(base_rows, head_rows)
            atomic_write_jsonl(out / "scores.jsonl", rows)
            results.append(_write_metrics(out, rows, _describe(task, split, shots, model_name, name), None))
        if peft_model is not None:
            peft_model.unload()  # give the caller its plain base model back
        update_manifest(root, f"eval:{folder.name}", status="complete", checkpoints=chosen)
    return results


def _run_config(target: Path) -> dict | None:
    """The likra config of a run directory, or None when ``target`` is not one."""
    path = target / "config.json"
    if not path.is_file():
        return None
    try:
        config = read_json(path)
    except (OSError, ValueError):
        return None
    return config if isinstance(config, dict) and "lora" in config and "model" in config else None


def _lora_settings(run_config: dict):
    from likra.model.heads import LoraSettings

    lora = dict(run_config["lora"])
    lora["target_modules"] = tuple(lora["target_modules"])
    return LoraSettings(**lora)


def _load(model_name: str, device: str | None):
    from likra.model.load import load_base

    return load_base(model_name, device=device)


def _score(base_model, model, items, variants, progress, batch_tokens) -> tuple[list[dict], dict]:
    from likra.score.scorer import score_items

    rows, stats = score_items(
        model, base_model.tokenizer, items, variants,
        max_length=base_model.max_length, progress=progress, batch_tokens=batch_tokens,
    )
    if stats.n_truncated:
        print(f"note: {stats.n_truncated} of {stats.n_choices} contexts were longer than the model's "
              f"maximum length ({base_model.max_length}) and were truncated from the left")
    return rows, {
        "variants": list(variants),
        "n_items": stats.n_items,
        "n_choices": stats.n_choices,
        "n_truncated": stats.n_truncated,
        "seconds": round(stats.seconds, 3),
        "choices_per_second": round(stats.choices_per_second, 2),
        "scored_at": time.strftime("%Y-%m-%dT%H:%M:%S"),
    }


def _describe(task: str, split: str, shots: int, model: str, checkpoint: str | None) -> dict:
    return {"task": task, "split": split, "model": model, "checkpoint": checkpoint, "shots": shots}


def _write_metrics(out: Path, rows: list[dict], description: dict, only: str | None) -> dict:
    metrics = {
        **{k: description[k] for k in ("task", "split")},
        "n_items": len(rows),
        **{k: description[k] for k in ("model", "checkpoint", "shots")},
        "modes": all_metrics(rows, [only] if only else None),
    }
    if only:
        atomic_write_jsonl(out / "scores.jsonl", rows)
    atomic_write_json(out / "metrics.json", metrics)
    return metrics
