"""The cached decoding loop: batched prompts, left padding, one KV cache per model variant.

A mode runs one or more variants of one model (``base`` with the adapters off, or a named peft
adapter) at every step. Two ways to run them, same tokens (tests/test_generate.py):

- ``separate``: one forward per variant, each with its own KV cache (peft switches adapters
  between the forwards);
- ``batched``: one forward over the prompts repeated once per variant, with peft's mixed-adapter
  batch (``adapter_names``, ``__base__`` for the base rows); one cache holds every variant's rows.

The loop itself is transformers' greedy/sampling loop written out: positions from the attention
mask (left padding), logits of the last position only, stop at EOS, at a stop string or after
``max_new_tokens``; a finished row is fed padding until every row is done.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import torch

from likra.generation.decoding import Logits
from likra.score.scorer import variant_contexts

STRATEGIES = ("separate", "batched")
BASE_ADAPTER = "__base__"  # peft's name for "no adapter" in a mixed-adapter batch


@dataclass
class Decoded:
    """Per row: the generated tokens (EOS excluded), the text (cut before a stop string), and
    why it ended: ``eos``, ``stop`` or ``length``."""

    tokens: list[list[int]]
    texts: list[str]
    finish: list[str]


def cache_argument(model: Any) -> str:
    """The keyword a causal LM's forward takes its KV cache by (``cache`` from transformers 5.x's
    rename; ``past_key_values`` before)."""
    lm = model.get_base_model() if hasattr(model, "get_base_model") else model
    return "cache" if "cache" in inspect.signature(lm.forward).parameters else "past_key_values"


def _cache_of(output: Any) -> Any:
    cache = getattr(output, "cache", None)
    return cache if cache is not None else output.past_key_values


class VariantForward:
    """Runs ``model`` for each variant with KV caches; ``__call__`` returns each variant's
    last-position logits ([batch, vocab])."""

    def __init__(self, model: Any, variants: Sequence[str], strategy: str = "separate") -> None:
        if strategy not in STRATEGIES:
            raise ValueError(f"strategy must be one of {STRATEGIES}, got {strategy!r}")
        self.model, self.variants = model, tuple(variants)
        self.batched = strategy == "batched" and len(self.variants) > 1
        self.cache_key = cache_argument(model)
        self.contexts = variant_contexts(model, self.variants)
        self.caches: dict[str, Any] = {}

    def __call__(self, ids: torch.Tensor, mask: torch.Tensor, positions: torch.Tensor) -> dict[str, torch.Tensor]:
        if self.batched:
            return self._batched(ids, mask, positions)
        logits = {}
        for variant in self.variants:
            with self.contexts[variant]():
                logits[variant] = self._forward(variant, ids, mask, positions)
        return logits

    def _forward(self, key: str, ids: torch.Tensor, mask: torch.Tensor, positions: torch.Tensor, **extra) -> Any:
        output = self.model(
            input_ids=ids,
            attention_mask=mask,
            position_ids=positions,
            use_cache=True,
            logits_to_keep=1,
            **{self.cache_key: self.caches.get(key)},
            **extra,
        )
        self.caches[key] = _cache_of(output)
        return output.logits[:, -1, :]

    def _batched(self, ids: torch.Tensor, mask: torch.Tensor, positions: torch.Tensor) -> dict[str, torch.Tensor]:
        n = len(self.variants)
        rows = ids.shape[0]
        names = [BASE_ADAPTER if v == "base" else v for v in self.variants for _ in range(rows)]
        logits = self._forward(
            "batched", ids.repeat(n, 1), mask.repeat(n, 1), positions.repeat(n, 1), adapter_names=names
        )
        return dict(zip(self.variants, logits.view(n, rows, -1)))


def left_pad(prompts: Sequence[Sequence[int]], pad_id: int, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """Token ids and attention mask of the prompts, padded on the left to one width."""
    width = max(len(p) for p in prompts)
    ids = torch.full((len(prompts), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(prompts), width), dtype=torch.long)
    for row, prompt in enumerate(prompts):
        if prompt:
            ids[row, width - len(prompt) :] = torch.tensor(list(prompt), dtype=torch.long)
            mask[row, width - len(prompt) :] = 1
    return ids.to(device), mask.to(device)


@dataclass
class StopRules:
    """When a row is done: one of the ``eos_ids`` (not kept), a stop string in the decoded text
    (cut at its first occurrence), or ``max_new_tokens`` tokens."""

    eos_ids: frozenset[int]
    strings: tuple[str, ...]
    max_new_tokens: int


@torch.inference_mode()
def decode(
    forward: VariantForward,
    tokenizer: Any,
    prompts: Sequence[Sequence[int]],
    pick: Callable[[Logits], torch.Tensor],
    stops: StopRules,
    device: torch.device,
) -> Decoded:
    """Generate from each prompt (token ids) with ``pick`` choosing every row's next token from
    the variants' logits; all rows advance together, one forward per variant and step."""
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    ids, mask = left_pad(prompts, pad_id, device)
    positions = (mask.cumsum(-1) - 1).masked_fill(mask == 0, 0)
    rows = _Rows(len(prompts), tokenizer, stops)
    logits = forward(ids, mask, positions)
    for step in range(stops.max_new_tokens):
        chosen = pick(logits)
        last = step == stops.max_new_tokens - 1
        if rows.add(chosen.tolist(), last=last) or last:
            break
        chosen = chosen.masked_fill(rows.done_mask(device), pad_id)  # a finished row is fed padding
        mask = torch.cat([mask, mask.new_ones((len(prompts), 1))], dim=-1)
        positions = positions[:, -1:] + 1
        logits = forward(chosen[:, None], mask, positions)
    return rows.result()


class _Rows:
    """The bookkeeping of the loop's rows: tokens so far, and which rows are done and why."""

    def __init__(self, n: int, tokenizer: Any, stops: StopRules) -> None:
        self.tokenizer, self.stops = tokenizer, stops
        self.tokens: list[list[int]] = [[] for _ in range(n)]
        self.finish: list[str | None] = [None] * n

    def add(self, chosen: list[int], last: bool) -> bool:
        """Record one step's tokens; True when every row is done."""
        for row, token in enumerate(chosen):
            if self.finish[row] is not None:
                continue
            if token in self.stops.eos_ids:
                self.finish[row] = "eos"
                continue
            self.tokens[row].append(token)
            if self.stops.strings and self._stop_index(self._text(row)) is not None:
                self.finish[row] = "stop"
            elif last:
                self.finish[row] = "length"
        return all(f is not None for f in self.finish)

    def done_mask(self, device: torch.device) -> torch.Tensor:
        return torch.tensor([f is not None for f in self.finish], device=device)

    def _text(self, row: int) -> str:
        return self.tokenizer.decode(self.tokens[row], skip_special_tokens=True)

    def _stop_index(self, text: str) -> int | None:
        found = [i for i in (text.find(s) for s in self.stops.strings) if i >= 0]
        return min(found) if found else None

    def result(self) -> Decoded:
        texts = []
        for row in range(len(self.tokens)):
            text = self._text(row)
            cut = self._stop_index(text) if self.stops.strings else None
            texts.append(text if cut is None else text[:cut])
        return Decoded(self.tokens, texts, [f or "length" for f in self.finish])
