"""What each optimiser step of a run costs, in useful GFLOP: the unit a job plans training in.

Examples differ in cost by their length (a question-ablated example is a few tokens, a full one
~100), so a job that counts examples as equal cost mispredicts when runs of both kinds follow
each other. Counting each sequence's tokens (``likra.lm.flops``) does not.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from likra.data.pairs import Example, QuestionExamples
from likra.lm.flops import ModelFlops
from likra.lm.tokenize import encode_requests
from likra.methods import PREFERENCE_METHODS, method_heads
from likra.training.loop import STEP_OVERHEAD_TOKENS, head_losses


def question_sequences(method: str, question: QuestionExamples) -> list[Example]:
    """The sequences one question trains, over all heads (a DPO row is chosen and rejected)."""
    if method in PREFERENCE_METHODS:
        from likra.training.preference import TRL_RECIPES  # it imports this module

        return TRL_RECIPES[method].sequences(question)
    return [e for terms in head_losses(method, [question], 0.0).values() for term in terms for e in term.examples]


def step_gflop(
    tokenizer: Any,
    pairs: Sequence[QuestionExamples],
    method: str,
    batch_size: int,
    max_length: int,
    flops: ModelFlops,
) -> list[float]:
    """Useful training GFLOP of each step of one epoch (step k trains questions [bk, bk+b)), plus
    each head's fixed cost per step (``likra.training.loop.head_step_gflop``).

    A sequence runs its context and answer but the last answer token as input, and the LM head
    at its answer tokens, exactly as the training loop packs it."""
    sequences = [question_sequences(method, q) for q in pairs]
    flat = [(e.context, e.answer) for seqs in sequences for e in seqs]
    encoded = iter(encode_requests(tokenizer, flat, max_length))
    per_question = []
    for seqs in sequences:
        gflop = 0.0
        for _ in seqs:
            e = next(encoded)
            gflop += flops.training_gflop(len(e.context) + len(e.continuation) - 1, len(e.continuation))
        per_question.append(gflop)
    steps = math.ceil(len(pairs) / batch_size)
    overhead = len(method_heads(method)) * flops.training_gflop(STEP_OVERHEAD_TOKENS, 0)
    return [sum(per_question[k * batch_size : (k + 1) * batch_size]) + overhead for k in range(steps)]


def work_kind(method: str) -> str:
    """The job-progress kind of a method's training: TRL's trainers cost more per GFLOP than
    likra's packed loop, so they learn their own rate."""
    return "preference" if method in PREFERENCE_METHODS else "train"
