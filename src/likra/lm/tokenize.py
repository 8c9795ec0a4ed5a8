"""Tokenise (context, continuation) requests exactly as lm-evaluation-harness does.

lm-eval moves trailing spaces of the context onto the continuation, encodes context and
context+continuation with the tokenizer's default special tokens, and takes the continuation's
tokens as the tail of the whole encoding after the context's length. This works for tokenizers
with a BOS (both encodings start with it) and without; every continuation token is scored once.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class EncodedRequest:
    context: tuple[int, ...]
    continuation: tuple[int, ...]
    truncated: bool = False


def prefix_token_id(tokenizer: Any) -> int:
    """The token that stands in for an empty context (lm-eval: BOS, else EOS)."""
    if tokenizer.bos_token_id is not None:
        return int(tokenizer.bos_token_id)
    return int(tokenizer.eos_token_id)


def encode_requests(tokenizer: Any, requests: Sequence[tuple[str, str]], max_length: int) -> list[EncodedRequest]:
    """Token ids of every request; contexts too long for the model are cut from the left."""
    contexts, wholes, empty = [], [], []
    for context, continuation in requests:
        n_spaces = len(context) - len(context.rstrip())
        if n_spaces:
            continuation = context[-n_spaces:] + continuation
            context = context[:-n_spaces]
        empty.append(not context)
        contexts.append(context)
        wholes.append(context + continuation)
    context_ids = tokenizer(contexts)["input_ids"] if contexts else []
    whole_ids = tokenizer(wholes)["input_ids"] if wholes else []
    empty_wholes = [w for w, e in zip(wholes, empty) if e]
    continuation_only_ids = iter(tokenizer(empty_wholes, add_special_tokens=False)["input_ids"] if empty_wholes else [])
    encoded = []
    for is_empty, ctx, whole in zip(empty, context_ids, whole_ids):
        if is_empty:
            ctx, cont = [prefix_token_id(tokenizer)], next(continuation_only_ids)
        else:
            cont = whole[len(ctx) :]
        truncated = len(ctx) + len(cont) > max_length + 1
        if truncated:
            # lm-eval keeps the last max_length+1 tokens of context+continuation.
            ctx = ctx[-(max_length + 1 - len(cont)) :] if len(cont) <= max_length else ctx[-1:]
            cont = cont[-max_length:]
        encoded.append(EncodedRequest(tuple(ctx), tuple(cont), truncated))
    return encoded
