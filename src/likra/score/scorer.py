"""Score every choice of every item under several model variants in one pass over the data.

The expensive part of evaluation happens here, once: the summed log-likelihood of each choice's
continuation under the base model and each LoRA head. Every mode and metric is arithmetic on
the resulting table (see ``likra.metrics``).
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from tqdm.auto import tqdm

from likra import distributed, job_progress
from likra.data.items import Item
from likra.lm.flops import ModelFlops
from likra.lm.forward import target_logprobs
from likra.lm.packing import (
    BATCH_TOKENS,
    ROW_TOKENS,
    Group,
    build_batch,
    group_requests,
    plan_batches,
    plan_rows,
    split_long_groups,
)
from likra.lm.tokenize import EncodedRequest, encode_requests


@dataclass
class ScoreStats:
    n_items: int
    n_choices: int
    n_truncated: int
    seconds: float
    input_tokens: int  # real (non-padding) tokens run through the model, per variant

    @property
    def choices_per_second(self) -> float:
        return self.n_choices / self.seconds if self.seconds > 0 else float("inf")


def variant_contexts(model: Any, names: Sequence[str]) -> dict[str, Callable[[], Any]]:
    """For each variant name a context manager that makes ``model`` compute that variant.

    ``base`` disables the adapters; any other name activates the peft adapter of that name.
    """

    def activate(name: str) -> Callable[[], Any]:
        @contextlib.contextmanager
        def active() -> Iterator[None]:
            if name == "base":
                if hasattr(model, "disable_adapter"):
                    with model.disable_adapter():
                        yield
                else:
                    yield
            else:
                model.set_adapter(name)
                yield

        return active

    return {name: activate(name) for name in names}


@torch.inference_mode()
def score_requests(
    model: Any,
    tokenizer: Any,
    requests: Sequence[tuple[str, str]],
    variants: Sequence[str] = ("base",),
    *,
    max_length: int = 2048,
    row_tokens: int = ROW_TOKENS,
    batch_tokens: int = BATCH_TOKENS,
    device: torch.device | None = None,
    progress: bool = True,
) -> tuple[dict[str, list[float]], list[int], int, int]:
    """Summed log-likelihood of each request's continuation under each variant.

    Returns ``({variant: [loglik per request]}, [n continuation tokens per request],
    number of requests whose context was truncated, input tokens per variant)``.
    """
    device = device or next(model.parameters()).device
    encoded, groups = encode_and_group(tokenizer, requests, max_length)
    batches = plan_batches(plan_rows(groups, max(row_tokens, 1)), batch_tokens)
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    mask_dtype = next(model.parameters()).dtype
    totals = {v: torch.zeros(len(requests), dtype=torch.float64) for v in variants}
    contexts = variant_contexts(model, variants)
    # Several processes (likra.distributed): each runs every world()-th batch, exactly as one
    # process would run it, and the per-request sums are added up (x + 0 = x: identical tables).
    batches = distributed.shard(batches)
    bar = tqdm(
        total=sum(len(g.keys) for rows in batches for row in rows for g in row) * len(variants),
        desc="scoring",
        unit="choice",
        disable=not (progress and distributed.is_main()),
        leave=False,
    )
    input_tokens = 0
    flops = ModelFlops.of(model)
    for rows in batches:
        batch = build_batch(rows, pad_id, mask_dtype)
        input_tokens += batch.n_tokens
        n_requests = sum(len(g.keys) for row in rows for g in row)
        for variant in variants:
            with contexts[variant]():
                logprobs = target_logprobs(model, batch, device).double().cpu()
            totals[variant].index_add_(0, batch.target_keys, logprobs)
            bar.update(n_requests)
            job_progress.advance("score", flops.forward_gflop(batch.n_tokens, len(batch.target_keys)))
    bar.close()
    if distributed.world() > 1:
        counted = torch.tensor([float(input_tokens)], dtype=torch.float64)
        distributed.sum_tensors([*totals.values(), counted])
        input_tokens = int(counted.item())
    n_tokens = [len(e.continuation) for e in encoded]
    n_truncated = sum(e.truncated for e in encoded)
    return {v: t.tolist() for v, t in totals.items()}, n_tokens, n_truncated, input_tokens


def pass_size(
    tokenizer: Any, requests: Sequence[tuple[str, str]], max_length: int = 2048, row_tokens: int = ROW_TOKENS
) -> tuple[int, int]:
    """(input tokens, scored positions) of one variant's pass over ``requests``, as
    ``score_requests`` packs them: what a job plans its scoring work by."""
    encoded, groups = encode_and_group(tokenizer, requests, max_length)
    groups = split_long_groups(groups, max(row_tokens, 1))  # as plan_rows splits them
    return sum(g.n_inputs for g in groups), sum(len(e.continuation) for e in encoded)


def encode_and_group(
    tokenizer: Any, requests: Sequence[tuple[str, str]], max_length: int
) -> tuple[list[EncodedRequest], list[Group]]:
    """The requests' tokens, and groups of those sharing a context (each context runs once)."""
    encoded = encode_requests(tokenizer, requests, max_length)
    return encoded, group_requests([(e.context, e.continuation) for e in encoded])


def score_items(
    model: Any,
    tokenizer: Any,
    items: Sequence[Item],
    variants: Sequence[str] = ("base", "pos", "neg"),
    **kwargs: Any,
) -> tuple[list[dict], ScoreStats]:
    """One row per item: id, gold, and per choice the log-likelihood under each variant.

    Row format (``scores.jsonl``): ``{"id", "gold", "choices": [{"base", "pos", "neg",
    "n_tokens", "n_chars"}, ...]}`` (only the variants asked for).
    """
    started = time.perf_counter()
    requests = [request for item in items for request in item.requests()]
    scores, n_tokens, n_truncated, input_tokens = score_requests(model, tokenizer, requests, variants, **kwargs)
    rows, cursor = [], 0
    for item in items:
        choices = []
        for choice in range(item.n_choices):
            entry = {v: scores[v][cursor] for v in variants}
            entry["n_tokens"] = n_tokens[cursor]
            entry["n_chars"] = item.n_chars(choice)
            choices.append(entry)
            cursor += 1
        rows.append({"id": item.id, "gold": item.gold, "choices": choices})
    stats = ScoreStats(
        n_items=len(items),
        n_choices=len(requests),
        n_truncated=n_truncated,
        seconds=time.perf_counter() - started,
        input_tokens=input_tokens,
    )
    return rows, stats
