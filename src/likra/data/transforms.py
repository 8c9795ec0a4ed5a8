"""Item transforms used by the controls: remove the question, or score answers unconditionally."""

from __future__ import annotations

from dataclasses import replace

from likra.data.items import Item

BARE_PROMPT = "Answer:"


def without_question(item: Item, prompt: str = BARE_PROMPT) -> Item:
    """The item with every context (scored and trained) replaced by a bare prompt.

    A model that still picks the right answer here uses answer-only cues, not knowledge.
    For tasks whose continuation is shared by all choices (Winogrande), the choice-specific
    part of the context is kept: the option moves into the continuation.
    """
    if len(set(item.continuations)) == 1 and item.n_choices > 1:
        continuations = tuple(" " + c.strip() + item.continuations[0] for c in item.choices)
    else:
        continuations = item.continuations
    train = item.train_requests()
    return replace(
        item,
        contexts=(prompt,) * item.n_choices,
        continuations=continuations,
        train_contexts=(prompt,) * item.n_choices,
        train_continuations=tuple(" " + answer.lstrip() for _, answer in train),
    )


def unconditional(item: Item, prompt: str = BARE_PROMPT) -> Item:
    """The item's continuations after a bare prompt: the denominator of likra's
    ``answer-prior`` score, log P(a | question) - log P(a | "Answer:")."""
    return replace(item, contexts=(prompt,) * item.n_choices)
