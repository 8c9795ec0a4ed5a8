"""Load a base model and its tokenizer: safetensors only, no remote code, CPU or CUDA."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import torch

from likra import distributed
from likra.errors import LikraError
from likra.model.precision import resolve_dtype
from likra.model.resolve import DEFAULT_MODEL, resolve_model_path


@dataclass
class BaseModel:
    """A frozen causal LM, its tokenizer, and where it came from."""

    name: str
    path: str
    model: Any
    tokenizer: Any
    device: torch.device
    dtype: torch.dtype
    load_seconds: float

    @property
    def max_length(self) -> int:
        config = self.model.config
        return int(getattr(config, "max_position_embeddings", 2048) or 2048)


def pick_device(device: str | None = None) -> torch.device:
    """``auto``/None: CUDA when present (in a multi-process job, this process's own GPU), else CPU."""
    if device in (None, "auto"):
        if torch.cuda.is_available():
            return torch.device("cuda", distributed.local_rank()) if distributed.launched() else torch.device("cuda")
        return torch.device("cpu")
    return torch.device(device)


def pick_dtype(device: torch.device, dtype: str | None = None) -> torch.dtype:
    """The model dtype for ``dtype`` ("auto", "fp32", "bf16", or the long names) on ``device``.

    ``None`` (load_base's default) keeps the historical choice: fp32 on CPU, and on CUDA what
    "auto" picks (bf16 where supported). Only an explicit "auto" or "bf16" gives bf16 on a CPU
    (with native bf16, see ``likra.model.precision``); whether CPU should default to bf16 is
    pending the measurements in ``benchmarks/bf16_agreement.py``.
    """
    if dtype is None and device.type == "cpu":
        return torch.float32
    return resolve_dtype(device, dtype)


def chosen_dtype(device: str | None = None, dtype: str | None = None) -> torch.dtype:
    """The dtype ``load_base(device=device, dtype=dtype)`` would give, without loading anything."""
    return pick_dtype(pick_device(device), dtype)


def prepare_tokenizer(tokenizer: Any) -> Any:
    """Give tokenizers without a pad token one (eos); padding never reaches the loss or scores."""
    if tokenizer.pad_token_id is None:
        if tokenizer.eos_token_id is None:
            raise LikraError("the tokenizer has neither a pad token nor an eos token to pad with")
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer


def load_base(name_or_path: str = DEFAULT_MODEL, device: str | None = None, dtype: str | None = None) -> BaseModel:
    """Load a base model by short name (``smollm2-135m``), folder, .gguf file or Hub id."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    started = time.perf_counter()
    with distributed.main_first():  # a packaged model is converted once, by the main process
        path = resolve_model_path(name_or_path)
    torch_device = pick_device(device)
    torch_dtype = pick_dtype(torch_device, dtype)
    try:
        model = AutoModelForCausalLM.from_pretrained(
            path, dtype=torch_dtype, use_safetensors=True, trust_remote_code=False
        )
        tokenizer = AutoTokenizer.from_pretrained(path, trust_remote_code=False)
    except (OSError, ValueError, RuntimeError) as error:
        raise LikraError(f"cannot load model: {error}", file=path) from error
    except Exception as error:  # safetensors raises its own error type on a truncated file
        raise LikraError(f"cannot load model weights ({type(error).__name__}: {error})", file=path) from error
    model.to(torch_device)
    model.eval()
    model.requires_grad_(False)
    return BaseModel(
        name=name_or_path,
        path=path,
        model=model,
        tokenizer=prepare_tokenizer(tokenizer),
        device=torch_device,
        dtype=torch_dtype,
        load_seconds=time.perf_counter() - started,
    )
