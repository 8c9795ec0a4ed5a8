"""Run a causal LM on a packed batch and return the log-probability of every target token."""

from __future__ import annotations

from typing import Any

import torch

from likra.lm.packing import PackedBatch


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
    rows = batch.target_rows.to(device)
    positions = batch.target_positions.to(device)
    logits = head(hidden[rows, positions]).float()
    softcap = getattr(getattr(model, "config", None), "final_logit_softcapping", None)
    if softcap:  # Gemma-style models cap logits inside forward(); we bypass forward, so do it here
        logits = torch.tanh(logits / softcap) * softcap
    logprobs = torch.log_softmax(logits, dim=-1)
    return logprobs.gather(1, batch.target_ids.to(device)[:, None])[:, 0]
