"""Generate from a run's heads (or a bare model): what ``likra generate`` and ``likra.generation.generate`` do.

``Generator`` loads the base model once, attaches the run's adapters of one checkpoint and
decodes batches of prompts in any mode the adapters allow; ``generate`` is the one-call form
that also reads prompts from a task and writes the JSONL rows.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import torch

from likra.errors import LikraError
from likra.generation.decoding import MODES, GenerateSettings, choose, needed_adapters
from likra.generation.grading import grade_all
from likra.generation.loop import STRATEGIES, Decoded, StopRules, VariantForward, decode
from likra.generation.rerank import best, likra_per_char
from likra.io import atomic_write_jsonl
from likra.layout import UNTRAINED, RunLayout
from likra.lm.tokenize import prefix_token_id
from likra.model.heads import ADAPTER_WEIGHTS
from likra.model.precision import DEFAULT_DTYPE

# Forwarding all variants of a step in one mixed-adapter batch measured faster than one cached
# forward per variant (benchmarks/generation_speed.py, docs/generation.md#speed).
DEFAULT_STRATEGY = "batched"
TASK_STOP = ("\n",)  # a task's answer is one line: the default stop string for --task prompts
DEFAULT_BATCH = 8


@dataclass(frozen=True)
class Target:
    """What to generate with, resolved from the directory alone (no weights loaded)."""

    model: str  # the base model (likra name, folder or Hub id)
    run: str | None = None  # the run directory; None for a bare model
    checkpoint: str | None = None  # N-... of the run
    heads: tuple[str, ...] = ()
    run_config: dict | None = field(default=None, compare=False, repr=False)

    @property
    def modes(self) -> list[str]:
        return [m for m in MODES if set(needed_adapters(m)) <= set(self.heads)]

    def default_mode(self) -> str:
        if {"pos", "neg"} <= set(self.heads):
            return "contrastive"
        return self.heads[0] if self.heads else "base"

    def check_mode(self, mode: str) -> None:
        missing = [a for a in needed_adapters(mode) if a not in self.heads]
        if not missing:
            return
        adapters = f"{', '.join(missing)} adapter" + ("s" if len(missing) > 1 else "")
        if self.run is None:
            raise LikraError(
                f"mode {mode} needs a run's {adapters}; a model without adapters "
                "supports only base (give a run directory)",
                field="mode",
            )
        method = (self.run_config or {}).get("method", "likra")
        raise LikraError(
            f"mode {mode} needs the {adapters}; this run ({method}) has {', '.join(self.heads)}, "
            f"so it supports {', '.join(self.modes)}",
            field="mode",
        )

    def describe(self) -> dict[str, Any]:
        return {"model": self.model, "run": self.run, "checkpoint": self.checkpoint}


def resolve_target(target: str | Path, checkpoint: str = "final") -> Target:
    """A run directory (its heads at ``checkpoint``: ``final`` = the last complete one) or a model."""
    from likra.score.evaluate import check_eval_target, choose_checkpoints, read_run_config, run_heads

    config = read_run_config(Path(target))
    if config is None:
        if checkpoint != "final":
            raise LikraError(f"checkpoint {checkpoint} needs a run directory; {target} is a model", field="checkpoint")
        check_eval_target(str(target))
        return Target(model=str(target))
    run, heads = RunLayout(Path(target)), run_heads(config)
    if checkpoint == "final" and not run.complete_checkpoints(heads, ADAPTER_WEIGHTS):
        raise LikraError(
            f"this run has no complete checkpoint yet; train it, or ask for the untrained heads with "
            f"checkpoint {UNTRAINED}",
            file=target,
        )
    chosen = choose_checkpoints(run, "final" if checkpoint == "final" else [checkpoint], heads)[0]
    return Target(model=str(config["model"]), run=str(target), checkpoint=chosen, heads=heads, run_config=config)


@dataclass
class Generation:
    """One prompt's output: the text, its tokens, why it ended, and rerank's scored candidates."""

    text: str
    tokens: list[int]
    finish: str
    candidates: list[dict] | None = None


class Generator:
    """A base model with a checkpoint's adapters (or none), ready to decode prompts."""

    def __init__(self, target: Target, loaded: Any, model: Any) -> None:
        self.target, self.loaded, self.model = target, loaded, model
        self.tokenizer, self.device = loaded.tokenizer, loaded.device

    @classmethod
    def load(
        cls,
        target: str | Path | Target,
        checkpoint: str = "final",
        device: str | None = None,
        dtype: str = DEFAULT_DTYPE,
        loaded: Any = None,
    ) -> Generator:
        """Load the base model (in the scoring precision: ``auto`` = fp32) and the checkpoint's heads.

        ``loaded`` (a ``BaseModel``) is reused instead of loading one; the heads are attached to
        it in place (``close`` removes them)."""
        from likra.model.heads import attach_heads, load_head_weights
        from likra.model.load import load_base, pick_device
        from likra.model.precision import SCORING, dtype_name, resolve_dtype
        from likra.score.evaluate import lora_settings, match_adapter_dtype

        if not isinstance(target, Target):
            target = resolve_target(target, checkpoint)
        if loaded is None:
            precision = dtype_name(resolve_dtype(pick_device(device), dtype, SCORING))
            loaded = load_base(target.model, device=device, dtype=precision)
        if not target.heads:
            return cls(target, loaded, loaded.model)
        peft_model = attach_heads(loaded.model, lora_settings(target.run_config), target.heads)
        if target.checkpoint != UNTRAINED:
            for head in target.heads:
                load_head_weights(peft_model, RunLayout(Path(target.run)).head(target.checkpoint, head), head)
        match_adapter_dtype(peft_model, loaded.dtype)
        peft_model.eval()
        return cls(target, loaded, peft_model)

    def close(self) -> None:
        """Give the base model back without the adapters."""
        if self.model is not self.loaded.model:
            self.model.unload()
            self.model = self.loaded.model

    def encode(self, prompts: Sequence[str], max_new_tokens: int, truncate: bool = False) -> list[list[int]]:
        """Token ids of each prompt (the tokenizer's special tokens, as lm-eval encodes a context).

        A prompt too long for the model with ``max_new_tokens`` more is an error, or with
        ``truncate`` loses its first tokens (lm-eval's left truncation of a context)."""
        encoded = self.tokenizer(list(prompts))["input_ids"] if prompts else []
        encoded = [ids or [prefix_token_id(self.tokenizer)] for ids in encoded]
        limit = self.loaded.max_length
        if truncate and max_new_tokens < limit:
            encoded = [ids[-(limit - max_new_tokens) :] for ids in encoded]
        for number, ids in enumerate(encoded, start=1):
            if len(ids) + max_new_tokens > limit:
                raise LikraError(
                    f"prompt {number} has {len(ids)} tokens; with max_new_tokens {max_new_tokens} it needs more "
                    f"than the model's {limit} positions",
                    field="max_new_tokens",
                )
        return encoded

    def eos_ids(self) -> frozenset[int]:
        """The tokens that end a row: the model's generation config's EOS and the tokenizer's."""
        config = getattr(self.loaded.model, "generation_config", None)
        found = getattr(config, "eos_token_id", None) if config is not None else None
        ids = set(found if isinstance(found, (list, tuple)) else [found] if found is not None else [])
        if self.tokenizer.eos_token_id is not None:
            ids.add(self.tokenizer.eos_token_id)
        return frozenset(int(i) for i in ids)

    def generate(
        self,
        prompts: Sequence[str],
        settings: GenerateSettings,
        *,
        batch_size: int = DEFAULT_BATCH,
        strategy: str = DEFAULT_STRATEGY,
        stop_at_eos: bool = True,
        truncate: bool = False,
        progress: Any = None,
    ) -> list[Generation]:
        """One ``Generation`` per prompt, in order. Prompts run in batches of similar length;
        ``stop_at_eos=False`` always generates ``max_new_tokens`` (for speed measurements);
        ``truncate`` left-truncates a prompt too long for the model (see ``encode``);
        ``progress`` is called with the number of prompts done after each batch."""
        self.target.check_mode(settings.mode)
        if strategy not in STRATEGIES:
            raise LikraError(f"strategy must be one of {', '.join(STRATEGIES)}, got {strategy!r}", field="strategy")
        if batch_size < 1:
            raise LikraError(f"batch_size must be >= 1, got {batch_size}", field="batch_size")
        encoded = self.encode(prompts, settings.max_new_tokens, truncate)
        stops = StopRules(self.eos_ids() if stop_at_eos else frozenset(), settings.stop, settings.max_new_tokens)
        generator = torch.Generator(device=self.device).manual_seed(settings.seed)
        order = sorted(range(len(encoded)), key=lambda i: len(encoded[i]))
        results: list[Generation | None] = [None] * len(encoded)
        for start in range(0, len(order), batch_size):
            batch = order[start : start + batch_size]
            outputs = self._batch(
                [prompts[i] for i in batch], [encoded[i] for i in batch], settings, stops, generator, strategy
            )
            for i, output in zip(batch, outputs):
                results[i] = output
            if progress is not None:
                progress(len(batch))
        return [r for r in results if r is not None]

    def _batch(self, prompts, encoded, settings, stops, generator, strategy) -> list[Generation]:
        mode = MODES[settings.mode]
        if settings.mode == "rerank":
            return self._rerank(prompts, encoded, settings, stops, generator, strategy)
        forward = VariantForward(self.model, mode.variants, strategy)
        decoded = decode(forward, self.tokenizer, encoded, self._picker(settings, generator), stops, self.device)
        return _generations(decoded)

    def _picker(self, settings: GenerateSettings, generator: torch.Generator, greedy_rows=None):
        rule = MODES[settings.mode].rule
        return lambda logits: choose(rule(logits, settings), settings, generator, greedy_rows)

    def _rerank(self, prompts, encoded, settings, stops, generator, strategy) -> list[Generation]:
        """k rows per prompt from the positive head (the first greedy unless sampling), then the
        best likra score per character."""
        k = settings.k
        rows = [ids for ids in encoded for _ in range(k)]
        greedy = (
            None if settings.sample else torch.tensor([c == 0 for _ in encoded for c in range(k)], device=self.device)
        )
        forward = VariantForward(self.model, MODES["rerank"].variants, strategy)
        decoded = decode(forward, self.tokenizer, rows, self._picker(settings, generator, greedy), stops, self.device)
        scores = likra_per_char(
            self.model,
            self.tokenizer,
            [p for p in prompts for _ in range(k)],
            decoded.texts,
            self.loaded.max_length,
            self.device,
        )
        outputs = []
        for p in range(len(prompts)):
            span = range(p * k, (p + 1) * k)
            candidates = [
                {"text": decoded.texts[i], "score": _finite_or_none(scores[i]), "finish": decoded.finish[i]}
                for i in span
            ]
            chosen = p * k + best([scores[i] for i in span])
            outputs.append(
                Generation(decoded.texts[chosen], decoded.tokens[chosen], decoded.finish[chosen], candidates)
            )
        return outputs


def _finite_or_none(value: float) -> float | None:
    """A score as JSON can hold it: an empty candidate's -inf is None."""
    return value if math.isfinite(value) else None


def _generations(decoded: Decoded) -> list[Generation]:
    return [Generation(t, tokens, f) for t, tokens, f in zip(decoded.texts, decoded.tokens, decoded.finish)]


def task_items(task: str, split: str, limit: int | None) -> list:
    """A task's items that have one question to generate from (one context for every choice)."""
    from likra.data.selection import eval_items

    items = eval_items(task, split, limit, shots=0)
    if not items:
        raise LikraError(f"task '{task}' split '{split}' has no items")
    for item in items:
        if len(set(item.contexts)) != 1:
            raise LikraError(
                f"task '{task}' scores each choice in its own context (item {item.id}), so it has no one "
                "question to generate from",
                field="task",
            )
    return items


def generate(
    target: str | Path,
    prompts: Sequence[str] | None = None,
    *,
    task: str | None = None,
    split: str = "test",
    limit: int | None = None,
    checkpoint: str = "final",
    mode: str | None = None,
    device: str | None = None,
    dtype: str = DEFAULT_DTYPE,
    batch_size: int = DEFAULT_BATCH,
    out: str | Path | None = None,
    progress: Any = None,
    loaded: Any = None,
    grade: bool = False,
    **decoding: Any,
) -> list[dict]:
    """Generate from ``prompts`` or a task's questions with a run (or a bare model): one row per
    prompt, ``{"id", "prompt", "text", "mode", "settings", "finish", "n_tokens"}`` (rerank adds
    ``candidates``), also written to ``out`` (JSONL) when given.

    ``mode`` defaults to contrastive for a likra run, the run's adapter for a one-adapter run and
    base for a model; ``decoding`` are ``GenerateSettings`` fields (max_new_tokens, sample,
    temperature, top_p, seed, alpha, weight, beta, k, stop). Task prompts stop at a newline
    unless ``stop`` is given. ``grade`` (task prompts only) grades each answer against the item's
    choices (``likra.generation.grading``): each row gains ``grade`` and ``named`` (per grader:
    gold, wrong or other, and the index of the choice it names), ``choices`` and ``gold``."""
    if (prompts is None) == (task is None):
        raise LikraError("give either prompts (--prompt) or a task (--task)", field="prompt")
    if grade and task is None:
        raise LikraError("grading needs a task's items (--task): free prompts have no choices", field="grade")
    if task is not None:
        decoding.setdefault("stop", TASK_STOP)
    settings = GenerateSettings(mode=mode or "base", **decoding)  # every option checked before any loading
    if batch_size < 1:
        raise LikraError(f"batch_size must be >= 1, got {batch_size}", field="batch_size")
    items = task_items(task, split, limit) if task is not None else None
    ids, texts = ([i.id for i in items], [i.contexts[0] for i in items]) if items else _prompt_ids(prompts)
    resolved = resolve_target(target, checkpoint)
    settings = replace(settings, mode=mode or resolved.default_mode())
    resolved.check_mode(settings.mode)
    generator = Generator.load(resolved, device=device, dtype=dtype, loaded=loaded)
    try:
        outputs = generator.generate(texts, settings, batch_size=batch_size, progress=progress)
    finally:
        if loaded is not None:  # the caller's model goes back without adapters
            generator.close()
    from likra.model.precision import dtype_name

    about = {**settings.describe(), **resolved.describe(), "dtype": dtype_name(generator.loaded.dtype)}
    rows = [_row(i, p, g, settings.mode, about) for i, p, g in zip(ids, texts, outputs)]
    if grade:
        for row, item in zip(rows, items):
            graded = grade_all(row["text"], item.choices, item.gold)
            row["grade"] = {grader: g for grader, (g, _) in graded.items()}
            row["named"] = {grader: named for grader, (_, named) in graded.items()}
            row["choices"], row["gold"] = list(item.choices), item.gold  # so the file can be graded again
    if out is not None:
        atomic_write_jsonl(out, rows)
    return rows


def _prompt_ids(prompts: Sequence[str]) -> tuple[list[str], list[str]]:
    if isinstance(prompts, str):
        prompts = [prompts]
    if not prompts:
        raise LikraError("no prompts given", field="prompt")
    return [f"prompt-{i}" for i in range(len(prompts))], list(prompts)


def _row(item_id: str, prompt: str, output: Generation, mode: str, settings: dict) -> dict:
    row = {
        "id": item_id,
        "prompt": prompt,
        "text": output.text,
        "mode": mode,
        "settings": {k: v for k, v in settings.items() if k != "mode"},
        "finish": output.finish,
        "n_tokens": len(output.tokens),
    }
    if output.candidates is not None:
        row["candidates"] = output.candidates
    return row
