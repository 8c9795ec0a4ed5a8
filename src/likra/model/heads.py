"""The two LoRA heads (``pos`` and ``neg``) on one frozen base model, saved in peft's format.

Each head is saved as its own folder (``adapter_config.json`` + ``adapter_model.safetensors``),
so ``PeftModel.from_pretrained(base, folder)`` loads either head with plain peft.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from likra.errors import LikraError
from likra.model.resolve import PICKLE_SUFFIXES

HEADS = ("pos", "neg")
ADAPTER_WEIGHTS = "adapter_model.safetensors"
ADAPTER_CONFIG = "adapter_config.json"


@dataclass(frozen=True)
class LoraSettings:
    """The reference's LoRA: r=8, alpha=8, no dropout, on the MLP projections."""

    r: int = 8
    alpha: int = 8
    dropout: float = 0.0
    target_modules: tuple[str, ...] = ("gate_proj", "up_proj", "down_proj")

    def __post_init__(self) -> None:
        if self.r < 1:
            raise LikraError(f"LoRA rank must be >= 1, got {self.r}", field="lora_r")
        if not self.alpha > 0:
            raise LikraError(f"LoRA alpha must be > 0, got {self.alpha}", field="lora_alpha")
        if not 0.0 <= self.dropout < 1.0:
            raise LikraError(f"LoRA dropout must be in [0, 1), got {self.dropout}", field="lora_dropout")
        if not self.target_modules:
            raise LikraError("LoRA needs at least one target module", field="lora_targets")

    def to_dict(self) -> dict:
        return {**asdict(self), "target_modules": list(self.target_modules)}


def lora_config(settings: LoraSettings) -> Any:
    from peft import LoraConfig

    return LoraConfig(
        r=settings.r,
        lora_alpha=settings.alpha,
        lora_dropout=settings.dropout,
        target_modules=list(settings.target_modules),
        bias="none",
        task_type="CAUSAL_LM",
    )


def attach_heads(model: Any, settings: LoraSettings = LoraSettings(), names=HEADS) -> Any:
    """Wrap ``model`` in a PeftModel carrying one fresh (B = 0) LoRA adapter per name."""
    from peft import get_peft_model

    config = lora_config(settings)
    try:
        peft_model = get_peft_model(model, config, adapter_name=names[0])
    except ValueError as error:
        raise LikraError(f"cannot attach LoRA heads: {error}", field="lora_targets") from error
    for name in names[1:]:
        peft_model.add_adapter(name, lora_config(settings))
    return peft_model


def save_heads(peft_model: Any, folder: str | Path, names=HEADS) -> None:
    """Save each head into ``folder/<name>/`` in peft's standard safetensors format."""
    folder = Path(folder)
    for name in names:
        peft_model.save_pretrained(folder, selected_adapters=[name], safe_serialization=True)
    for name in names:
        if not (folder / name / ADAPTER_WEIGHTS).exists():
            raise RuntimeError(f"peft did not write {folder / name / ADAPTER_WEIGHTS}")


def check_adapter_folder(folder: Path) -> Path:
    """The safetensors weights of an adapter folder; pickle files are refused, never read."""
    if not folder.is_dir():
        raise LikraError("adapter folder does not exist", file=folder)
    weights = folder / ADAPTER_WEIGHTS
    if not weights.exists():
        pickles = [p.name for p in folder.iterdir() if p.suffix in PICKLE_SUFFIXES]
        if pickles:
            raise LikraError(
                f"adapter weights are pickle files ({', '.join(pickles)}); likra loads only "
                "safetensors and never unpickles. Convert them with a tool you trust.",
                file=folder,
            )
        raise LikraError(f"adapter folder has no {ADAPTER_WEIGHTS}", file=folder)
    return weights


def load_head_weights(peft_model: Any, folder: str | Path, name: str) -> None:
    """Load a saved head's weights into the adapter ``name`` of ``peft_model`` (in place)."""
    from peft import set_peft_model_state_dict
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    weights = check_adapter_folder(Path(folder))
    try:
        state = load_file(str(weights))
    except (SafetensorError, OSError) as error:
        raise LikraError(f"corrupt or truncated safetensors file: {error}", file=weights) from error
    expected = {k for k in peft_model.state_dict() if f".{name}." in k and "lora_" in k}
    try:
        result = set_peft_model_state_dict(peft_model, state, adapter_name=name)
    except RuntimeError as error:  # size mismatch: made for another base model or rank
        lines = [line.strip() for line in str(error).splitlines() if line.strip()]
        detail = next((line for line in lines if "size mismatch" in line), lines[0] if lines else "")
        raise LikraError(
            f"adapter does not fit this base model (made for a different model or LoRA rank?): {detail}",
            file=weights,
        ) from error
    missing = [k for k in getattr(result, "missing_keys", []) if k in expected]
    if missing or not state:
        raise LikraError(
            f"adapter is missing {len(missing)} LoRA weights of this base model "
            f"(made for a different model?), e.g. {missing[:1]}",
            file=weights,
        )
