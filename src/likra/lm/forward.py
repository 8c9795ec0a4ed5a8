"""Run a causal LM on a packed batch and return the log-probability of every target token."""

from __future__ import annotations

from typing import Any

import torch

from likra.lm.packing import PackedBatch

# Scored positions per LM-head matmul: bounds the (positions x vocabulary) fp32 logits, which on a
# 49k-token vocabulary would otherwise be the largest tensor of a scoring pass (~200 MB per 1k).
HEAD_CHUNK = 256


def causal_lm_parts(model: Any) -> tuple[Any, Any]:
    """The transformer body and the LM head of a (possibly peft-wrapped) causal LM."""
    inner = model.get_base_model() if hasattr(model, "get_base_model") else model
    return inner.get_decoder(), inner.get_output_embeddings()


def target_logprobs(model: Any, batch: PackedBatch, device: torch.device) -> torch.Tensor:
    """log P(target token | its prefix) for every target of the batch, as float32.

    The LM head runs only on the positions that predict a scored token: on a 49k-token
    vocabulary that is most of the head's cost saved.
    """
    body, head = causal_lm_parts(model)
    hidden = body(
        input_ids=batch.input_ids.to(device),
        attention_mask=batch.attention_mask.to(device),
        position_ids=batch.position_ids.to(device),
        use_cache=False,
    ).last_hidden_state
    predictors = hidden[batch.target_rows.to(device), batch.target_positions.to(device)]
    targets = batch.target_ids.to(device)
    softcap = getattr(getattr(model, "config", None), "final_logit_softcapping", None)
    chunks = [
        _chunk_logprobs(head, predictors[start : start + HEAD_CHUNK], targets[start : start + HEAD_CHUNK], softcap)
        for start in range(0, len(targets), HEAD_CHUNK)
    ]
    return torch.cat(chunks) if chunks else torch.zeros(0, device=device)


def _chunk_logprobs(head: Any, hidden: torch.Tensor, targets: torch.Tensor, softcap: float | None) -> torch.Tensor:
    logits = head(hidden)
    if softcap:  # Gemma-style models cap logits inside forward(); we bypass forward, so do it here
        logits = torch.tanh(logits.float() / softcap) * softcap
    # dtype= widens bf16 logits inside the kernel: bit-identical to .float() first (tested), one
    # fewer fp32 (positions x vocabulary) tensor written and held per chunk.
    return torch.log_softmax(logits, dim=-1, dtype=torch.float32).gather(1, targets[:, None])[:, 0]
