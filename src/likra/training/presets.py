"""Named training presets and each method's default learning rate.

``budget`` (the default) trains every method as likra is trained: one epoch, constant LR,
likra's LoRA (r=8 on the MLP projections), so curves compare at equal N. ``reference`` is the
reference code's DPO baseline (LoRA r=16, alpha=16 on all seven projections, lr 5e-5 with a
cosine schedule, batch 4, 3 epochs, beta 0.1).
"""

from __future__ import annotations

from dataclasses import dataclass

from likra.methods import METHODS, get_method
from likra.model.heads import LoraSettings
from likra.training.loop import TrainSettings

# Each method's default (likra.methods), chosen on ARC-Challenge *validation* at N = 128 (batch 16,
# seed 42); the numbers are in benchmarks/results/lr_sweep*.json.
METHOD_LR = {name: method.lr for name, method in METHODS.items()}


def default_lr(method: str) -> float:
    return get_method(method).lr


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
