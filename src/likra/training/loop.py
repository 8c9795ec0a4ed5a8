"""The training loop: two LoRA heads, one frozen base, the same questions in the same order.

Step k trains the pos head on the positives of questions [bk, bk+b) (b = batch size) and the
neg head on the negatives of the same questions. The heads have separate parameters and
optimisers and no dropout, so interleaving their steps gives exactly the weights of the
reference's "pos epoch, then neg epoch" -- and lets every checkpoint hold both heads.

Loss: cross-entropy on answer tokens only (the context is never scored, no EOS is added),
averaged over the batch's answer tokens. Sequences are packed (see ``likra.lm.packing``):
no padding is computed.

The same loop trains the single-adapter methods that need no preference trainer: ``sft`` (the
pos head alone) and ``unlikelihood`` (CE on the gold answer + alpha * -log(1 - p) on the
negative's tokens, each averaged over its own answer tokens). DPO and KTO are trained by TRL
(``likra.training.preference``).
"""

from __future__ import annotations

import json
import math
import shutil
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from functools import partial
from pathlib import Path
from typing import Any

import torch
from tqdm.auto import tqdm

from likra import distributed, job_progress
from likra.data.pairs import Example, QuestionExamples
from likra.errors import DamagedFileError, LikraError, warn
from likra.io import (
    append_jsonl,
    atomic_write_folder,
    atomic_write_json,
    atomic_write_jsonl,
    read_json,
    read_log,
    recover_folder,
)
from likra.layout import CHECKPOINT_INFO, RESUME_STATE, RunLayout, checkpoint_name
from likra.lm.allocator import release_freed_memory
from likra.lm.flops import ModelFlops
from likra.lm.forward import target_logprobs
from likra.lm.packing import (
    ROW_TOKENS,
    TRAIN_BATCH_TOKENS,
    TRAIN_WIDTH_MULTIPLE,
    Group,
    build_batch,
    plan_batches,
    plan_rows,
)
from likra.lm.tokenize import encode_requests
from likra.methods import DEFAULT_METHOD, method_heads
from likra.model.heads import ADAPTER_WEIGHTS, check_adapter_folder, load_head_weights, save_heads
from likra.model.resolve import PICKLE_SUFFIXES
from likra.rundir import update_manifest
from likra.tracking import log_scalars


@dataclass(frozen=True)
class TrainSettings:
    lr: float = 1e-3
    batch_size: int = 32
    epochs: int = 1
    max_grad_norm: float = 1.0
    weight_decay: float = 0.0
    seed: int = 42
    save_every: int = 16
    # Recompute each layer's activations in backward instead of keeping them: ~1.5 MB per token
    # otherwise (SmolLM2), for about a third more training compute; scoring is unaffected.
    activation_checkpointing: bool = True
    # Training keeps every layer's activations for backward: a smaller micro-batch than scoring's
    # bounds that memory; gradients accumulate over micro-batches, so results do not depend on it.
    batch_tokens: int = TRAIN_BATCH_TOKENS
    # Weight of the unlikelihood term (method unlikelihood): CE(gold) + alpha * UL(negative).
    unlikelihood_alpha: float = 1.0

    def __post_init__(self) -> None:
        if not (math.isfinite(self.lr) and self.lr > 0):
            raise LikraError(f"learning rate must be a positive number, got {self.lr}", field="lr")
        if self.batch_size < 1:
            raise LikraError(f"batch size must be >= 1, got {self.batch_size}", field="batch_size")
        if self.epochs < 1:
            raise LikraError(f"epochs must be >= 1, got {self.epochs}", field="epochs")
        if not self.max_grad_norm > 0:
            raise LikraError(f"max_grad_norm must be > 0, got {self.max_grad_norm}", field="max_grad_norm")
        if self.weight_decay < 0:
            raise LikraError(f"weight decay must be >= 0, got {self.weight_decay}", field="weight_decay")
        if self.save_every < 1:
            raise LikraError(f"save_every must be >= 1 (steps), got {self.save_every}", field="save_every")
        if not (math.isfinite(self.unlikelihood_alpha) and self.unlikelihood_alpha >= 0):
            raise LikraError(
                f"unlikelihood alpha must be >= 0, got {self.unlikelihood_alpha}", field="unlikelihood_alpha"
            )
        if self.batch_tokens < 1:
            raise LikraError(f"batch_tokens must be >= 1, got {self.batch_tokens}", field="batch_tokens")

    def to_dict(self) -> dict:
        return asdict(self)


def is_checkpoint_step(step: int) -> bool:
    """Optimiser steps 1, 2, 4, 8, ... (N = 32, 64, 128, ... questions at batch 32)."""
    return step & (step - 1) == 0


def complete_checkpoints(run_dir: Path, method: str = DEFAULT_METHOD) -> list[str]:
    """A run's complete checkpoints (every head of ``method`` saved), in order of training questions."""
    return RunLayout(run_dir).complete_checkpoints(method_heads(method), ADAPTER_WEIGHTS)


def head_parameters(peft_model: Any, name: str) -> list[torch.nn.Parameter]:
    params = [p for n, p in peft_model.named_parameters() if "lora_" in n and f".{name}." in n]
    if not params:
        raise LikraError(f"the model has no LoRA parameters for head '{name}'")
    return params


def set_activation_checkpointing(model: Any, enabled: bool) -> None:
    """Turn transformers' activation (gradient) checkpointing of the base model on or off
    (models that do not support it train without)."""
    inner = model.get_base_model() if hasattr(model, "get_base_model") else model
    if not getattr(inner, "supports_gradient_checkpointing", False):
        return
    kwargs = {"use_reentrant": False}  # non-reentrant: no input needs to require grad (the base is frozen)
    if hasattr(inner, "activation_checkpointing_enable"):  # transformers' name since it renamed the feature
        if enabled:
            inner.activation_checkpointing_enable(activation_checkpointing_kwargs=kwargs)
        else:
            inner.activation_checkpointing_disable()
    elif enabled:
        inner.gradient_checkpointing_enable(gradient_checkpointing_kwargs=kwargs)
    else:
        inner.gradient_checkpointing_disable()


def unlikelihood_token_loss(logprobs: torch.Tensor) -> torch.Tensor:
    """-log(1 - p) per token (Welleck et al. 2019), from log p; p is kept below 1 so a token the
    model is certain of costs a large finite loss instead of inf."""
    return -torch.log(-torch.expm1(logprobs.clamp(max=-1e-6)))


# The per-token losses a head can be trained with (written by hand: no library ships
# unlikelihood on a packed batch).
TOKEN_LOSSES = {"ce": lambda logprobs: -logprobs, "unlikelihood": unlikelihood_token_loss}


@dataclass(frozen=True)
class LossTerm:
    """Part of a head's loss: ``weight`` x the mean per-token loss ``kind`` over ``examples``' answers."""

    examples: Sequence[Example]
    kind: str = "ce"
    weight: float = 1.0


# What one head's optimiser step costs besides its tokens (zeroing, clipping and applying
# gradients, handing memory back, a few hundred small kernels), as input tokens: on SmolLM2-135M
# (2 cores, bf16) a step took 0.43 s a head plus 3.3 ms a token. The job's ETA adds it, so that a
# run of a few tokens an example (no question) is not priced as nearly free.
STEP_OVERHEAD_TOKENS = 128


def head_step_gflop(flops: ModelFlops, input_tokens: int, answer_tokens: int) -> float:
    """The job-progress units of one head's optimiser step (``likra.training.step_cost``)."""
    return flops.training_gflop(input_tokens + STEP_OVERHEAD_TOKENS, answer_tokens)


# What each head of a method trained by this loop learns from a batch's positives and negatives:
# {head: loss terms}. A method of likra.methods with trainer LOOP has its entry here.
HeadLosses = Callable[[list[Example], list[Example], float], dict[str, list[LossTerm]]]
HEAD_LOSSES: dict[str, HeadLosses] = {
    "likra": lambda positives, negatives, alpha: {"pos": [LossTerm(positives)], "neg": [LossTerm(negatives)]},
    "sft": lambda positives, negatives, alpha: {"pos": [LossTerm(positives)]},
    "unlikelihood": lambda positives, negatives, alpha: {
        "unlikelihood": [LossTerm(positives), LossTerm(negatives, "unlikelihood", alpha)]
    },
}


def head_losses(method: str, batch: Sequence[QuestionExamples], alpha: float) -> dict[str, list[LossTerm]]:
    """What each head of ``method`` is trained on, for one batch of questions."""
    if method not in HEAD_LOSSES:
        raise LikraError(f"method '{method}' is not trained by likra's own loop", field="method")
    positives = [q.positive for q in batch]
    negatives = [n for q in batch for n in q.negatives]
    return HEAD_LOSSES[method](positives, negatives, alpha)


class HeadTrainer:
    """One head: its parameters, optimiser, and the loss of a batch of examples."""

    def __init__(self, peft_model: Any, tokenizer: Any, name: str, settings: TrainSettings, max_length: int):
        self.model, self.tokenizer, self.name = peft_model, tokenizer, name
        self.settings, self.max_length = settings, max_length
        self.params = head_parameters(peft_model, name)
        if settings.activation_checkpointing:
            set_activation_checkpointing(peft_model, True)
        self.optimizer = torch.optim.AdamW(self.params, lr=settings.lr, weight_decay=settings.weight_decay)
        self.device = next(peft_model.parameters()).device
        self.mask_dtype = next(p for p in peft_model.parameters() if not p.requires_grad).dtype

    def step(self, terms: Sequence[LossTerm]) -> dict[str, float]:
        """One optimiser step on the sum of ``terms``; returns loss, answer tokens, input tokens.

        Each term's loss is averaged over its own answer tokens (all processes together).
        """
        self.model.set_adapter(self.name)
        self.model.train()
        for p in self.params:
            p.requires_grad_(True)
        self.optimizer.zero_grad(set_to_none=True)
        total, answer_tokens, input_tokens = 0.0, 0, 0
        for term in terms:
            term_loss, term_answers, term_inputs = self._accumulate(term)
            total += term_loss
            answer_tokens += term_answers
            input_tokens += term_inputs
        if distributed.world() > 1:
            total, input_tokens = self._sum_over_processes(total, input_tokens)
        if not math.isfinite(total):
            return {"loss": total, "answer_tokens": answer_tokens, "input_tokens": input_tokens}
        grad_norm = float(torch.nn.utils.clip_grad_norm_(self.params, self.settings.max_grad_norm))
        if not math.isfinite(grad_norm):  # never step into non-finite weights
            return {"loss": total, "answer_tokens": answer_tokens, "input_tokens": input_tokens, "grad_norm": grad_norm}
        self.optimizer.step()
        self.model.eval()
        # Every step's activations have new sizes; without this, glibc keeps the freed holes
        # and resident memory grows with N (likra.lm.allocator).
        release_freed_memory()
        return {"loss": total, "answer_tokens": answer_tokens, "input_tokens": input_tokens}

    def _accumulate(self, term: LossTerm) -> tuple[float, int, int]:
        """Backward of one term (gradients add up); returns its loss, answer and input tokens."""
        # Data parallel (several processes): each scores its share of the examples; the loss is
        # normalised by the whole batch's answer tokens and the gradients are summed, so every
        # process holds the gradient of the whole batch, as one process would.
        mine = distributed.shard(term.examples)
        encoded = encode_requests(self.tokenizer, [(e.context, e.answer) for e in mine], self.max_length)
        groups = [Group(prefix=e.context, branches=[e.continuation], keys=[i]) for i, e in enumerate(encoded)]
        counted = torch.tensor([float(sum(len(e.continuation) for e in encoded))], dtype=torch.float64)
        distributed.sum_tensors([counted])
        answer_tokens = int(counted.item())
        if answer_tokens == 0:
            raise LikraError("a training batch has no answer tokens (empty answers?)")
        total, input_tokens = 0.0, 0
        for rows in plan_batches(plan_rows(groups, ROW_TOKENS), self.settings.batch_tokens):
            batch = build_batch(rows, self.tokenizer.pad_token_id or 0, self.mask_dtype, TRAIN_WIDTH_MULTIPLE)
            logprobs = target_logprobs(self.model, batch, self.device)
            loss = term.weight * TOKEN_LOSSES[term.kind](logprobs).sum() / answer_tokens
            loss.backward()
            total += float(loss.detach())
            input_tokens += batch.n_tokens
        return total, answer_tokens, input_tokens

    def _sum_over_processes(self, total: float, input_tokens: int) -> tuple[float, int]:
        for p in self.params:
            if p.grad is None:  # this process had no examples: it adds nothing
                p.grad = torch.zeros_like(p)
        distributed.sum_tensors([p.grad for p in self.params])
        sums = torch.tensor([total, float(input_tokens)], dtype=torch.float64)
        distributed.sum_tensors([sums])
        return float(sums[0]), int(sums[1])

    def optimizer_tensors(self) -> dict[str, torch.Tensor]:
        tensors = {}
        for index, state in self.optimizer.state_dict()["state"].items():
            for key, value in state.items():
                tensors[f"{index}.{key}"] = torch.as_tensor(value).detach().cpu().contiguous()
        return tensors

    def load_optimizer_tensors(self, tensors: dict[str, torch.Tensor]) -> None:
        state: dict[int, dict[str, torch.Tensor]] = {}
        for flat, value in tensors.items():
            index, key = flat.split(".", 1)
            state.setdefault(int(index), {})[key] = value.to(self.device)
        current = self.optimizer.state_dict()
        self.optimizer.load_state_dict({"state": state, "param_groups": current["param_groups"]})


def train_heads(
    peft_model: Any,
    tokenizer: Any,
    pairs: Sequence[QuestionExamples],
    run_dir: Path,
    settings: TrainSettings,
    max_length: int = 2048,
    progress: bool = True,
    method: str = DEFAULT_METHOD,
) -> list[str]:
    """Train the heads of ``method`` (likra's two; sft's or unlikelihood's one) over ``pairs``
    (already in training order); returns checkpoint names.

    Resumes from the run's resume state when present; completed checkpoints are never redone.
    """
    layout = RunLayout(run_dir)
    heads = method_heads(method)
    trainers = {name: HeadTrainer(peft_model, tokenizer, name, settings, max_length) for name in heads}
    steps_per_epoch = math.ceil(len(pairs) / settings.batch_size)
    total_steps = steps_per_epoch * settings.epochs
    start_step = _restore(layout, peft_model, trainers)
    checkpoints = complete_checkpoints(run_dir, method)  # complete ones are never rewritten
    if start_step and distributed.is_main():
        questions_at = partial(_questions_after, n_questions=len(pairs), batch_size=settings.batch_size)
        print(resume_note(start_step, total_steps, questions_at, checkpoints))
    update_manifest(run_dir, "train", status="running", total_steps=total_steps)
    progress = progress and distributed.is_main()
    bar = tqdm(total=total_steps, initial=start_step, desc="training", unit="step", disable=not progress)
    flops = ModelFlops.of(peft_model)
    started = time.perf_counter()
    for step in range(start_step + 1, total_steps + 1):
        within = (step - 1) % steps_per_epoch
        batch = pairs[within * settings.batch_size : (within + 1) * settings.batch_size]
        questions_seen = (step - 1) * settings.batch_size + len(batch)
        row, results = _train_step(
            trainers, head_losses(method, batch, settings.unlikelihood_alpha), step, questions_seen
        )
        _stop_if_diverged(run_dir, results, step, checkpoints, bar)
        append_jsonl(layout.train_log, row)
        log_scalars("train", step, row | {"lr": settings.lr})  # likra's loop: constant AdamW
        job_progress.advance(
            "train",
            sum(head_step_gflop(flops, r["input_tokens"], r["answer_tokens"]) for r in results.values()),
        )
        bar.set_postfix(
            **{head: f"{row[f'{head}_loss']:.3f}" for head in heads},
            ex_s=row["examples_per_s"],
            tok_s=row["tokens_per_s"],
        )
        bar.update(1)
        last = step == total_steps
        if (is_checkpoint_step(step) or last) and checkpoint_name(questions_seen) not in checkpoints:
            _save_checkpoint(layout, peft_model, step, questions_seen, heads)
            checkpoints.append(checkpoint_name(questions_seen))
        if is_checkpoint_step(step) or step % settings.save_every == 0 or last:
            _save_resume(layout, peft_model, trainers, step)
    bar.close()
    return finish_training(run_dir, method, total_steps, started)


def _questions_after(step: int, n_questions: int, batch_size: int) -> int:
    """N after ``step``, counted as the loop counts it (on through later epochs)."""
    within = (step - 1) % math.ceil(n_questions / batch_size)
    return (step - 1) * batch_size + min(batch_size, n_questions - within * batch_size)


def resume_note(step: int, total_steps: int, questions_at: Callable[[int], int], done: Sequence[str]) -> str:
    """The line a resumed run prints: where it continues and how many of its checkpoints exist,
    e.g. ``resuming after step 6 of 12 (12 questions trained; 3 of 5 checkpoints done, the last N-8)``.

    ``questions_at(step)``: N after ``step``; ``done``: the run's complete checkpoints."""
    planned = {checkpoint_name(questions_at(s)) for s in range(1, total_steps + 1) if is_checkpoint_step(s)}
    planned.add(checkpoint_name(questions_at(total_steps)))
    finished = [name for name in done if name in planned]
    last = f", the last {finished[-1]}" if finished else ""
    return (
        f"resuming after step {step} of {total_steps} ({questions_at(step)} questions trained; "
        f"{len(finished)} of {len(planned)} checkpoints done{last})"
    )


def finish_training(run_dir: Path, method: str, total_steps: int, started: float) -> list[str]:
    """Mark a run's training complete (once every process sees its last checkpoint); returns
    its checkpoints."""
    distributed.barrier()
    checkpoints = complete_checkpoints(run_dir, method)
    update_manifest(
        run_dir,
        "train",
        status="complete",
        total_steps=total_steps,
        checkpoints=checkpoints,
        seconds=round(time.perf_counter() - started, 2),
    )
    return checkpoints


def _restore(layout: RunLayout, peft_model: Any, trainers: dict[str, HeadTrainer]) -> int:
    """Load the resume state (heads, optimisers) if any; returns the step to continue after."""
    if distributed.is_main():  # the others wait below, then read what it left
        recover_folder(layout.resume)
        for tmp in layout.partial_checkpoints():
            shutil.rmtree(tmp, ignore_errors=True)  # a checkpoint half written when a kill came
    distributed.barrier()
    state = layout.resume / RESUME_STATE
    resumed = _read_resume(layout, tuple(trainers)) if state.exists() else None
    if resumed is None:
        if distributed.is_main():
            layout.train_log.unlink(missing_ok=True)  # a fresh start: no rows from an earlier try
        return 0
    start_step, optimizers = resumed
    for name, trainer in trainers.items():
        load_head_weights(peft_model, layout.resume / name, name)
        trainer.load_optimizer_tensors(optimizers[name])
    # The log is append-only; drop lines written after the resume point.
    if layout.train_log.exists():
        atomic_write_jsonl(layout.train_log, [r for r in read_log(layout.train_log) if r["step"] <= start_step])
    return start_step


def _read_resume(layout: RunLayout, heads: Sequence[str]) -> tuple[int, dict[str, dict]] | None:
    """The resume state's step and each head's optimiser tensors, every file read (and the heads'
    weights checked) before anything is loaded into the model. A damaged state (torn
    ``state.json``, a truncated or missing ``.safetensors`` file) is None after one warning line:
    the run trains again from step 0, which gives the same adapters; complete checkpoints are kept."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    path = layout.resume / RESUME_STATE
    try:
        state = read_json(path)
        step = state.get("step") if isinstance(state, dict) else None
        if not isinstance(step, int) or isinstance(step, bool) or step < 0:
            raise DamagedFileError(path, f"expected a step number, got {json.dumps(step)}")
        optimizers = {}
        for name in heads:
            path = layout.resume / name / ADAPTER_WEIGHTS
            if not path.exists() and path.parent.is_dir():
                _refuse_pickles(path.parent)
            load_file(str(path))
            path = layout.resume / f"optimizer-{name}.safetensors"
            optimizers[name] = load_file(str(path))
    except DamagedFileError as damaged:
        where, problem = damaged.where, damaged.problem
    except (SafetensorError, OSError) as error:
        where, problem = str(path), _file_problem(error)
    else:
        return step, optimizers
    warn(
        f"{where}: damaged resume state ({problem}); training this run again from step 0 "
        "(complete checkpoints are kept)"
    )
    return None


def _refuse_pickles(folder: Path) -> None:
    """Pickle weights where the safetensors should be are refused (never read), not "damaged"."""
    if any(p.suffix in PICKLE_SUFFIXES for p in folder.iterdir()):
        check_adapter_folder(folder)  # raises, naming the pickle files


def _file_problem(error: BaseException) -> str:
    if isinstance(error, FileNotFoundError):
        return "missing"
    if isinstance(error, OSError):
        return error.strerror or str(error)
    return f"{type(error).__name__}: {error}"


def _train_step(
    trainers: dict[str, HeadTrainer], losses: dict[str, list[LossTerm]], step: int, questions_seen: int
) -> tuple[dict, dict[str, dict]]:
    """One optimiser step of each head on the same questions; returns the log row and results."""
    started = time.perf_counter()
    results = {head: trainers[head].step(terms) for head, terms in losses.items()}
    seconds = time.perf_counter() - started
    tokens = sum(r["input_tokens"] for r in results.values())
    examples = sum(len(term.examples) for terms in losses.values() for term in terms)
    row = {"step": step, "questions": questions_seen}
    for head, result in results.items():
        row[f"{head}_loss"] = result["loss"]
        row[f"{head}_answer_tokens"] = result["answer_tokens"]
    row |= {
        "seconds": round(seconds, 4),
        "examples": examples,
        "examples_per_s": round(examples / seconds, 2),
        "tokens_per_s": round(tokens / seconds, 1),
    }
    return row, results


def _stop_if_diverged(run_dir: Path, results: dict[str, dict], step: int, checkpoints: list[str], bar: Any) -> None:
    """Mark the run failed and raise when a head's loss or gradient is not finite."""
    bad = [
        h
        for h in results
        if not math.isfinite(results[h]["loss"]) or not math.isfinite(results[h].get("grad_norm", 0.0))
    ]
    if not bad:
        return
    last = checkpoints[-1] if checkpoints else None
    update_manifest(
        run_dir,
        "train",
        status="failed",
        failed_step=step,
        last_good_checkpoint=last,
        reason=f"non-finite loss in head(s) {', '.join(bad)}",
    )
    bar.close()
    raise LikraError(
        f"training diverged at step {step}: {', '.join(bad)} loss is "
        f"{', '.join(str(results[h]['loss']) for h in bad)}"
        + "".join(f" ({h} gradient norm {results[h]['grad_norm']})" for h in bad if "grad_norm" in results[h])
        + ". The run is marked failed; "
        f"the last good checkpoint is {last or '(none yet)'}. Try a lower learning rate.",
        file=run_dir,
    )


def _save_checkpoint(layout: RunLayout, peft_model: Any, step: int, questions_seen: int, heads: Sequence[str]) -> None:
    def write(tmp: Path) -> None:
        save_heads(peft_model, tmp, heads)
        atomic_write_json(tmp / CHECKPOINT_INFO, {"step": step, "questions": questions_seen})

    atomic_write_folder(layout.checkpoint(checkpoint_name(questions_seen)), write)


def _save_resume(layout: RunLayout, peft_model: Any, trainers: dict[str, HeadTrainer], step: int) -> None:
    from safetensors.torch import save_file

    def write(tmp: Path) -> None:
        save_heads(peft_model, tmp, tuple(trainers))
        for name, trainer in trainers.items():
            save_file(trainer.optimizer_tensors(), str(tmp / f"optimizer-{name}.safetensors"))
        atomic_write_json(tmp / RESUME_STATE, {"step": step})

    atomic_write_folder(layout.resume, write)
