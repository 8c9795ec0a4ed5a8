"""Useful FLOPs of scoring and LoRA training: the speed benchmarks' achieved-GFLOP/s figures and
the unit in which a job plans and counts its work (``likra.job_progress``).

"Useful" counts the matmul work the answer needs, not what an implementation happens to run:
each unique input token costs 2 x (non-embedding parameters) multiply-adds, and the LM head
(hidden x vocab) is needed only at the positions that predict a scored token. Padding, repeated
contexts and LM-head logits nobody reads are not useful work. Left out, as in the usual
2N-per-token estimate: attention's score/value products (which grow with sequence length; small
at these lengths), norms, activations and softmax.

"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch


def _causal_lm(model: Any) -> Any:
    """The transformers causal LM inside a (possibly peft-wrapped) model."""
    return model.get_base_model() if hasattr(model, "get_base_model") else model


def non_embedding_params(model: Any) -> int:
    """Parameters of the frozen base causal LM, less its embedding tables and LM head.

    Excluded: the input embedding, every other ``nn.Embedding`` (learned position tables are
    lookups, not matmuls), the output embedding / LM head (counted by ``lm_head_params``), and
    LoRA's parameters where the model is peft-wrapped (``lora_*``; peft keeps the frozen weight
    as ``base_layer``, which is counted). A tied LM head shares the input embedding's tensor;
    shared tensors are counted once, and either way excluded.
    """
    inner = _causal_lm(model)
    excluded = {id(p) for m in inner.modules() if isinstance(m, torch.nn.Embedding) for p in m.parameters()}
    for module in (inner.get_input_embeddings(), inner.get_output_embeddings()):
        if module is not None:
            excluded.update(id(p) for p in module.parameters())
    return sum(
        p.numel()
        for name, p in inner.named_parameters()  # named_parameters yields a tied tensor once
        if id(p) not in excluded and "lora_" not in name and "modules_to_save." not in name
    )


def lm_head_params(model: Any) -> int:
    """hidden x vocab: the LM head's multiply-adds per scored position (bias, if any, ignored)."""
    inner = _causal_lm(model)
    head = inner.get_output_embeddings()
    if head is not None and getattr(head, "weight", None) is not None:
        return int(head.weight.numel())
    return int(inner.config.hidden_size) * int(inner.config.vocab_size)


def forward_flops(model: Any, input_tokens: int, scored_positions: int) -> float:
    """2 x non-embedding params x input tokens + 2 x LM-head params x scored positions."""
    return 2.0 * non_embedding_params(model) * input_tokens + 2.0 * lm_head_params(model) * scored_positions


def training_flops(model: Any, input_tokens: int, scored_positions: int) -> float:
    """Useful FLOPs of one LoRA training pass: 2 x ``forward_flops``.

    The forward pass, plus the backward pass through the frozen weights, which must propagate
    input gradients (one matmul per weight matmul, the same size). The frozen weights' own
    gradients (the usual third matmul, hence the 6N-per-token rule for full fine-tuning) are
    not computed. LoRA's own matmuls (rank 8 on SmolLM2-135M's 576 x 1536 MLP projections: about
    2% of the projections they sit on, with their weight gradients) are negligible and left out.
    """
    return 2.0 * forward_flops(model, input_tokens, scored_positions)


@dataclass(frozen=True)
class ModelFlops:
    """A model's parameter counts, read once, for costing many batches."""

    non_embedding: int
    lm_head: int

    @classmethod
    def of(cls, model: Any) -> ModelFlops:
        return cls(non_embedding_params(model), lm_head_params(model))

    def forward_gflop(self, input_tokens: int, scored_positions: int) -> float:
        """``forward_flops`` in GFLOP."""
        return 2.0 * (self.non_embedding * input_tokens + self.lm_head * scored_positions) / 1e9

    def training_gflop(self, input_tokens: int, scored_positions: int) -> float:
        """``training_flops`` in GFLOP."""
        return 2.0 * self.forward_gflop(input_tokens, scored_positions)
