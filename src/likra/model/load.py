"""Load a base model and its tokenizer: safetensors only, no remote code, CPU or CUDA."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import torch

from likra import distributed
from likra.errors import LikraError
from likra.model.precision import dtype_name, resolve_dtype
from likra.model.resolve import DEFAULT_MODEL, is_hub_id, resolve_model_path


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


DEVICE_HELP = "cpu, cuda, ..."  # the option help of a device; DEVICE_SHOWN: what ``pick_device`` picks
DEVICE_SHOWN = "cuda if available, else cpu"


def pick_device(device: str | None = None) -> torch.device:
    """``auto``/None: CUDA when present (in a multi-process job, this process's own GPU), else CPU.

    A name torch does not know, or a device this machine lacks (``cuda`` without a GPU), is a
    LikraError here, before anything is loaded or written (it was a traceback from torch)."""
    if device in (None, "auto"):
        if torch.cuda.is_available():
            return torch.device("cuda", distributed.local_rank()) if distributed.launched() else torch.device("cuda")
        return torch.device("cpu")
    try:
        chosen = torch.device(device)
    except (RuntimeError, TypeError):
        raise LikraError(
            f"unknown device {device!r}: expected auto, cpu, cuda, cuda:N or mps", field="device"
        ) from None
    if chosen.type == "cuda" and not torch.cuda.is_available():
        raise LikraError(f"device {device!r}: no CUDA GPU is available here; use cpu or auto", field="device")
    if chosen.type == "cuda" and chosen.index is not None and chosen.index >= torch.cuda.device_count():
        raise LikraError(
            f"device {device!r}: this machine has {torch.cuda.device_count()} CUDA GPU(s) (cuda:0 ...)", field="device"
        )
    if chosen.type == "mps" and not torch.backends.mps.is_available():
        raise LikraError(f"device {device!r}: Apple's MPS is not available here; use cpu or auto", field="device")
    return chosen


def auto_dtype(requested: str | None, device: str | None, purpose: str) -> str | None:
    """``requested`` with "auto" made the precision it gives for ``purpose`` on ``device`` ("fp32" or
    "bf16"), as a command's resolved config records it; any other value as it is (an explicit name
    is resolved, and warned about, where it is used)."""
    if requested != "auto":
        return requested
    return dtype_name(resolve_dtype(pick_device(device), requested, purpose))


def prepare_tokenizer(tokenizer: Any) -> Any:
    """Give tokenizers without a pad token one (eos); padding never reaches the loss or scores."""
    if tokenizer.pad_token_id is None:
        if tokenizer.eos_token_id is None:
            raise LikraError("the tokenizer has neither a pad token nor an eos token to pad with")
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer


HUB_PROBE_SECONDS = 5.0  # one short request to learn whether the Hub can be reached at all


def _one_line(error: BaseException) -> str:
    """A library's (often multi-line) message as one line."""
    return " ".join(str(error).split())


def _from_hub(repo_id: str, dtype: torch.dtype) -> tuple[Any, Any]:
    """Model and tokenizer of a Hub id: from the local Hugging Face cache without any network
    request when they are there; else from the Hub, after one short request has shown that it
    can be reached. An unreachable Hub is one line at once, not a minute of retries."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    try:
        # adapter_kwargs: transformers looks for a PEFT adapter config online even when
        # local_files_only is given, unless its lookup is told so too.
        model = AutoModelForCausalLM.from_pretrained(
            repo_id,
            dtype=dtype,
            use_safetensors=True,
            trust_remote_code=False,
            local_files_only=True,
            adapter_kwargs={"local_files_only": True},
        )
        tokenizer = AutoTokenizer.from_pretrained(repo_id, local_files_only=True, trust_remote_code=False)
        return model, tokenizer
    except OSError:  # not (wholly) in the cache
        pass
    _check_hub_reachable(repo_id)
    model = AutoModelForCausalLM.from_pretrained(repo_id, dtype=dtype, use_safetensors=True, trust_remote_code=False)
    return model, AutoTokenizer.from_pretrained(repo_id, trust_remote_code=False)


def _check_hub_reachable(repo_id: str) -> None:
    """Refuse at once, in one line, when the Hub cannot be reached (or offline mode is set)."""
    from huggingface_hub import constants

    offline = getattr(constants, "is_offline_mode", lambda: constants.HF_HUB_OFFLINE)()
    what = "not in the local Hugging Face cache, and "
    advice = "; download it where the Hub can be reached, or pass a local model folder"
    if offline:
        raise LikraError(what + "HF_HUB_OFFLINE is set" + advice, file=repo_id)
    from huggingface_hub.utils import get_session

    try:
        get_session().head(constants.ENDPOINT, timeout=HUB_PROBE_SECONDS)
    except Exception as error:  # DNS, refused, timeout, proxy: the client's own error types
        reason = f"{type(error).__name__}: {_one_line(error)}"
        message = f"{what}the Hub ({constants.ENDPOINT}) cannot be reached ({reason}){advice}"
        raise LikraError(message, file=repo_id) from error


def load_base(name_or_path: str = DEFAULT_MODEL, device: str | None = None, dtype: str | None = None) -> BaseModel:
    """Load a base model by short name (``smollm2-135m``), folder, .gguf file or Hub id."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    started = time.perf_counter()
    with distributed.main_first():  # a packaged model is converted once, by the main process
        path = resolve_model_path(name_or_path)
    torch_device = pick_device(device)
    torch_dtype = resolve_dtype(torch_device, dtype)  # None: fp32 on a CPU (see resolve_dtype)
    try:
        if is_hub_id(path):
            model, tokenizer = _from_hub(path, torch_dtype)
        else:
            model = AutoModelForCausalLM.from_pretrained(
                path, dtype=torch_dtype, use_safetensors=True, trust_remote_code=False
            )
            tokenizer = AutoTokenizer.from_pretrained(path, trust_remote_code=False)
    except LikraError:
        raise
    except (OSError, ValueError, RuntimeError) as error:
        raise LikraError(f"cannot load model: {_one_line(error)}", file=path) from error
    except Exception as error:  # safetensors raises its own error type on a truncated file
        raise LikraError(
            f"cannot load model weights ({type(error).__name__}: {_one_line(error)})", file=path
        ) from error
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
