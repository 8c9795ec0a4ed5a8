"""Named training presets and each method's default learning rate.

``budget`` (the default) trains every method as likra is trained: one epoch, constant LR,
likra's LoRA (r=8 on the MLP projections), so curves compare at equal N. ``reference`` is the
reference code's DPO baseline (LoRA r=16, alpha=16 on all seven projections, lr 5e-5 with a
cosine schedule, batch 4, 3 epochs, beta 0.1).
"""

from __future__ import annotations

from dataclasses import dataclass

from likra.errors import unknown_name
from likra.model.heads import LoraSettings
from likra.training.loop import TrainSettings

# Chosen on ARC-Challenge *validation* at N = 128 (batch 16, seed 42); the numbers are in
# benchmarks/results/lr_sweep*.json. likra's (and its pos head, sft's) is the original sweep's.
METHOD_LR = {"likra": 1e-3, "sft": 1e-3, "unlikelihood": 1e-2, "dpo": 1e-2, "kto": 1e-2}


def default_lr(method: str) -> float:
    if method not in METHOD_LR:
        raise unknown_name("method", method, list(METHOD_LR))
    return METHOD_LR[method]


@dataclass(frozen=True)
class Preset:
    lora: LoraSettings = LoraSettings()
    lr: float | None = None  # None: the method's default
    lr_scheduler: str = "constant"
    batch_size: int = TrainSettings.batch_size
    epochs: int = TrainSettings.epochs


ALL_PROJECTIONS = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")
PRESETS = {
    "budget": Preset(),
    "reference": Preset(
        lora=LoraSettings(r=16, alpha=16, target_modules=ALL_PROJECTIONS),
        lr=5e-5,
        lr_scheduler="cosine",
        batch_size=4,
        epochs=3,
    ),
}
