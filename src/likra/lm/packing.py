"""Pack many short sequences into few rows with a block attention mask: no padding, no re-reading.

A *group* is a shared prefix (e.g. a question's context) followed by several *branches* (its
answer choices). In a packed row every branch attends to its own prefix and to itself only,
with position ids restarting after the prefix, so each branch sees exactly what it would see as
a separate sequence ``prefix + branch`` -- but the prefix is computed once for all choices, and
several groups share a row instead of being padded to a common length. Written by hand because
no library packs prefix-sharing branches; transformers accepts the resulting 4D float mask.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import torch

# Rows of at most 512 input tokens keep the (rows, T, T) attention mask small while fitting
# several short questions per row; 4096 padded tokens per forward pass bound activation memory.
ROW_TOKENS = 512
BATCH_TOKENS = 4096
TRAIN_BATCH_TOKENS = 1024
# Training pads each micro-batch's width up to a multiple of this: a few tensor shapes recur
# instead of a new one per step, so oneDNN's kernel cache (one entry per shape, ~MBs each with
# AMX) stops growing with N. Scoring re-packs the same items identically, so it needs none.
TRAIN_WIDTH_MULTIPLE = 32


@dataclass
class Group:
    """A prefix and its branches; ``keys[i]`` identifies branch i in the results."""

    prefix: tuple[int, ...]
    branches: list[tuple[int, ...]] = field(default_factory=list)
    keys: list[int] = field(default_factory=list)

    @property
    def n_inputs(self) -> int:
        # A branch's last token is only ever a target, never an input.
        return len(self.prefix) + sum(len(b) - 1 for b in self.branches)


@dataclass
class PackedBatch:
    input_ids: torch.Tensor  # (rows, T)
    position_ids: torch.Tensor  # (rows, T)
    attention_mask: torch.Tensor  # (rows, 1, T, T) additive float mask
    target_rows: torch.Tensor  # (n_targets,) row of each scored token's prediction
    target_positions: torch.Tensor  # (n_targets,) position whose logits predict it
    target_ids: torch.Tensor  # (n_targets,) the token to score
    target_keys: torch.Tensor  # (n_targets,) which branch (request) the token belongs to
    n_tokens: int  # real (non-padding) input tokens


def group_requests(
    encoded: Sequence[tuple[tuple[int, ...], tuple[int, ...]]],
) -> list[Group]:
    """Groups of requests that share an identical context, keyed by request index."""
    groups: dict[tuple[int, ...], Group] = {}
    for key, (context, continuation) in enumerate(encoded):
        group = groups.setdefault(context, Group(prefix=context))
        group.branches.append(continuation)
        group.keys.append(key)
    return list(groups.values())


def split_long_groups(groups: Sequence[Group], row_tokens: int) -> list[Group]:
    """Groups whose prefix and branches exceed ``row_tokens`` split into several groups with the
    same prefix, each holding as many consecutive branches as fit (at least one).

    Without this, one context shared by thousands of requests (the answer-prior score's
    "Answer:", or every item of a question-ablated run) would become a single row of tens of
    thousands of tokens, whose (T x T) attention mask alone takes gigabytes. Each part recomputes
    the prefix, which changes no log-likelihood: every branch still sees its prefix and itself.
    """
    parts: list[Group] = []
    for group in groups:
        if group.n_inputs <= row_tokens:
            parts.append(group)
            continue
        part, size = Group(prefix=group.prefix), len(group.prefix)
        for tokens, key in zip(group.branches, group.keys):
            if part.branches and size + len(tokens) - 1 > row_tokens:
                parts.append(part)
                part, size = Group(prefix=group.prefix), len(group.prefix)
            part.branches.append(tokens)
            part.keys.append(key)
            size += len(tokens) - 1
        parts.append(part)
    return parts


def plan_rows(groups: Sequence[Group], row_tokens: int) -> list[list[Group]]:
    """First-fit-decreasing bin packing of groups into rows of at most ``row_tokens`` inputs.

    A group longer than that is first split by branches (``split_long_groups``). The capacity is
    then lowered to spread the tokens evenly over the fewest rows (rows are padded to the longest,
    so 498 + 19 tokens would cost 2 x 498). A group that is still longer than the capacity (one
    branch with its prefix) gets a row of its own.
    """
    groups = split_long_groups(groups, row_tokens)
    total = sum(g.n_inputs for g in groups)
    if total:
        n_rows = math.ceil(total / row_tokens)
        longest = max(g.n_inputs for g in groups)
        row_tokens = min(row_tokens, max(math.ceil(total / n_rows) + longest // 2, longest))
    rows: list[list[Group]] = []
    loads: list[int] = []
    for group in sorted(groups, key=lambda g: g.n_inputs, reverse=True):
        size = group.n_inputs
        for index, load in enumerate(loads):
            if load + size <= row_tokens:
                rows[index].append(group)
                loads[index] += size
                break
        else:
            rows.append([group])
            loads.append(size)
    return rows


def plan_batches(rows: list[list[Group]], batch_tokens: int) -> list[list[list[Group]]]:
    """Consecutive rows into batches whose padded size (rows x longest row) fits the budget."""
    batches: list[list[list[Group]]] = []
    current: list[list[Group]] = []
    longest = 0
    for row in rows:
        size = sum(g.n_inputs for g in row)
        if current and max(longest, size) * (len(current) + 1) > batch_tokens:
            batches.append(current)
            current, longest = [], 0
        current.append(row)
        longest = max(longest, size)
    if current:
        batches.append(current)
    return batches


def build_batch(
    rows: Sequence[Sequence[Group]], pad_id: int, mask_dtype: torch.dtype, width_multiple: int = 1
) -> PackedBatch:
    """Tensors for one batch of packed rows, padded to a width that is a multiple of ``width_multiple``."""
    longest = max(sum(g.n_inputs for g in row) for row in rows)
    width = math.ceil(longest / width_multiple) * width_multiple
    n_rows = len(rows)
    input_ids = torch.full((n_rows, width), pad_id, dtype=torch.long)
    position_ids = torch.zeros((n_rows, width), dtype=torch.long)
    # Each input token gets a (segment, branch) label: it may attend to earlier tokens of the
    # same segment whose branch is -1 (the prefix) or its own branch. Padding gets its own
    # segment so its rows are never empty (an all-masked softmax row is undefined).
    segment = torch.full((n_rows, width), -1, dtype=torch.long)
    branch = torch.full((n_rows, width), -1, dtype=torch.long)
    t_rows, t_pos, t_ids, t_keys = [], [], [], []
    n_tokens = 0
    for r, row in enumerate(rows):
        cursor = 0
        for s, group in enumerate(row):
            p = len(group.prefix)
            input_ids[r, cursor : cursor + p] = torch.tensor(group.prefix)
            position_ids[r, cursor : cursor + p] = torch.arange(p)
            segment[r, cursor : cursor + p] = s
            last_prefix = cursor + p - 1
            cursor += p
            for b, (tokens, key) in enumerate(zip(group.branches, group.keys)):
                n = len(tokens) - 1
                if n > 0:
                    input_ids[r, cursor : cursor + n] = torch.tensor(tokens[:-1])
                    position_ids[r, cursor : cursor + n] = torch.arange(p, p + n)
                    segment[r, cursor : cursor + n] = s
                    branch[r, cursor : cursor + n] = b
                # Token k of the branch is predicted by the logits at the previous token.
                predictors = ([last_prefix] + list(range(cursor, cursor + n)))[: len(tokens)]
                t_rows += [r] * len(tokens)
                t_pos += predictors
                t_ids += list(tokens)
                t_keys += [key] * len(tokens)
                cursor += n
        n_tokens += cursor
        if cursor < width:
            segment[r, cursor:] = torch.arange(len(row), len(row) + width - cursor)
    return PackedBatch(
        input_ids=input_ids,
        position_ids=position_ids,
        attention_mask=attention_mask(segment, branch, mask_dtype),
        target_rows=torch.tensor(t_rows, dtype=torch.long),
        target_positions=torch.tensor(t_pos, dtype=torch.long),
        target_ids=torch.tensor(t_ids, dtype=torch.long),
        target_keys=torch.tensor(t_keys, dtype=torch.long),
        n_tokens=n_tokens,
    )


def attention_mask(segment: torch.Tensor, branch: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """The additive (rows, 1, T, T) mask: a token sees earlier tokens of its own segment that are
    in the prefix (branch -1) or in its own branch."""
    width = segment.shape[1]
    idx = torch.arange(width)
    causal = idx[None, :] <= idx[:, None]
    same_segment = segment[:, :, None] == segment[:, None, :]
    visible_branch = (branch[:, None, :] == -1) | (branch[:, None, :] == branch[:, :, None])
    allowed = causal[None] & same_segment & visible_branch
    mask = torch.zeros((segment.shape[0], 1, width, width), dtype=dtype)
    return mask.masked_fill_(~allowed[:, None], torch.finfo(dtype).min)
