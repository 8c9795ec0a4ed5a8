"""DPO and KTO through TRL's own trainers, on likra's questions, negatives, batches and checkpoints.

The losses are TRL's (``DPOTrainer``: sigmoid loss; ``KTOTrainer``: the KTO loss with its batch
KL estimate). What likra adds is the bookkeeping that makes the curves comparable with likra's:

- the same questions in the same order (TRL's sequential sampler), ``batch_size`` questions per
  optimiser step, so step k has seen the same N questions as likra's step k;
- one LoRA adapter (peft) whose disabled state is the reference; reference log-probabilities
  are computed once, before training (``precompute_ref_log_probs``);
- DPO's step runs as micro-batches within the training token budget (gradient accumulation),
  so its memory does not grow with the batch or the benchmark's length;
- checkpoints after 1, 2, 4, ... steps in likra's layout (``checkpoints/N-*/<method>/``, a plain
  peft adapter folder), written atomically;
- resume: TRL's (transformers') own checkpoint of weights, optimiser, scheduler and RNG, kept in
  ``RUN/trainer-state`` and restored with ``resume_from_checkpoint``.

DPO rows: prompt = the question's context, chosen = the gold answer, rejected = one negative
(one row per negative). KTO rows are unpaired: the gold answer desirable, each negative
undesirable. TRL appends EOS to every completion, as in the reference's DPO baseline.
"""

from __future__ import annotations

import contextlib
import json
import math
import re
import shutil
import time
import zipfile
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
from tqdm.auto import tqdm

from likra import distributed, job_progress
from likra.data.pairs import Example, QuestionExamples
from likra.errors import LikraError
from likra.io import append_jsonl, atomic_write_folder, atomic_write_json, atomic_write_jsonl, read_log
from likra.layout import CHECKPOINT_INFO, RunLayout, checkpoint_name
from likra.lm.allocator import release_freed_memory
from likra.lm.flops import ModelFlops
from likra.lm.tokenize import encode_requests
from likra.methods import PREFERENCE_METHODS
from likra.model.heads import ADAPTER_WEIGHTS, LoraSettings, lora_config
from likra.rundir import update_manifest
from likra.tracking import log_scalars
from likra.training.loop import (
    TrainSettings,
    complete_checkpoints,
    finish_training,
    is_checkpoint_step,
    resume_note,
    set_activation_checkpointing,
)
from likra.training.step_cost import step_gflop


@dataclass(frozen=True)
class PreferenceSettings:
    """What only the preference methods have: TRL's beta and learning-rate schedule."""

    beta: float = 0.1
    lr_scheduler: str = "constant"  # likra's budget: constant, as likra's heads; the reference preset: cosine

    def __post_init__(self) -> None:
        if not (math.isfinite(self.beta) and self.beta > 0):
            raise LikraError(f"beta must be a positive number, got {self.beta}", field="beta")
        if self.lr_scheduler not in ("constant", "cosine", "linear"):
            raise LikraError(
                f"unknown learning-rate schedule '{self.lr_scheduler}'; use constant, cosine or linear",
                field="lr_scheduler",
            )

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class TrlRecipe:
    """How TRL trains a method: the sequences and dataset rows one question gives, and the
    trainer and config classes (names in ``trl``) with the config's own options."""

    sequences: Callable[[QuestionExamples], list[Example]]
    rows: Callable[[QuestionExamples], list[dict]]
    trainer: str
    config: str
    config_options: dict = field(default_factory=dict)


def _dpo_rows(q: QuestionExamples) -> list[dict]:
    return [{"prompt": q.positive.context, "chosen": q.positive.answer, "rejected": n.answer} for n in q.negatives]


def _kto_rows(q: QuestionExamples) -> list[dict]:
    desirable = {"prompt": q.positive.context, "completion": q.positive.answer, "label": True}
    return [desirable] + [{"prompt": n.context, "completion": n.answer, "label": False} for n in q.negatives]


# A method of likra.methods with trainer TRL has its entry here.
TRL_RECIPES: dict[str, TrlRecipe] = {
    # A DPO row is a pair: the gold chosen over one negative (both sequences are trained).
    "dpo": TrlRecipe(
        sequences=lambda q: [s for n in q.negatives for s in (q.positive, n)],
        rows=_dpo_rows,
        trainer="DPOTrainer",
        config="DPOConfig",
        config_options={"loss_type": ["sigmoid"]},
    ),
    # KTO's rows are unpaired: the gold desirable, each negative undesirable.
    "kto": TrlRecipe(
        sequences=lambda q: [q.positive, *q.negatives], rows=_kto_rows, trainer="KTOTrainer", config="KTOConfig"
    ),
}


def preference_rows(method: str, pairs: Sequence[QuestionExamples]) -> tuple[list[dict], int]:
    """TRL's dataset rows for ``pairs`` (in training order) and the rows each question gives."""
    counts = {len(q.negatives) for q in pairs}
    if len(counts) > 1:
        raise LikraError(
            f"{method} batches whole questions, so every question needs the same number of negatives "
            f"(this strategy gives {sorted(counts)}); use first, random, hardest, easiest or other-question",
            field="negatives",
        )
    negatives = counts.pop() if counts else 1
    if negatives == 0:
        raise LikraError(f"{method} needs at least one negative per question", field="negatives")
    recipe = TRL_RECIPES[method]
    rows = [row for q in pairs for row in recipe.rows(q)]
    return rows, len(recipe.rows(pairs[0])) if pairs else 1


def preference_micro_batch(row_tokens: Sequence[int], per_step: int, batch_tokens: int) -> int:
    """Rows per forward pass: the largest divisor of ``per_step`` whose micro-batches (padded to
    their longest row, as TRL pads) stay within ``batch_tokens`` in every step; at least 1.

    ``row_tokens`` are the tokens one row puts through the model, in training order. A divisor
    keeps every micro-batch of a full step the same size, so the mean of their mean losses is the
    step's mean loss: gradients equal the whole step's up to float rounding."""
    for rows in sorted((d for d in range(1, per_step + 1) if per_step % d == 0), reverse=True):
        chunks = (row_tokens[i : i + rows] for i in range(0, len(row_tokens), rows))
        if rows == 1 or all(len(c) * max(c) <= batch_tokens for c in chunks):
            return rows
    return 1


def _dpo_row_tokens(tokenizer: Any, pairs: Sequence[QuestionExamples], max_length: int) -> list[int]:
    """Tokens each DPO row puts through the model: chosen and rejected, padded to the longer
    (TRL concatenates them), each with the EOS TRL appends."""
    sequences = [e for q in pairs for e in TRL_RECIPES["dpo"].sequences(q)]
    encoded = encode_requests(tokenizer, [(e.context, e.answer) for e in sequences], max_length)
    lengths = [len(e.context) + len(e.continuation) + 1 for e in encoded]
    return [2 * max(lengths[i], lengths[i + 1]) for i in range(0, len(lengths), 2)]


def train_preference(
    model: Any,
    tokenizer: Any,
    pairs: Sequence[QuestionExamples],
    run_dir: Path,
    method: str,
    settings: TrainSettings,
    lora: LoraSettings,
    preference: PreferenceSettings = PreferenceSettings(),
    max_length: int = 2048,
    progress: bool = True,
) -> list[str]:
    """Train one LoRA adapter on ``model`` with TRL's DPO or KTO trainer; returns checkpoint names.

    ``model`` is the plain base model; the adapter is removed again before returning.
    """
    from datasets import Dataset

    if method not in PREFERENCE_METHODS:
        raise LikraError(f"'{method}' is not a preference method ({', '.join(PREFERENCE_METHODS)})", field="method")
    layout = RunLayout(run_dir)
    rows, rows_per_question = preference_rows(method, pairs)
    per_step = settings.batch_size * rows_per_question
    steps_per_epoch = math.ceil(len(rows) / per_step)
    total_steps = steps_per_epoch * settings.epochs
    state_dir = layout.trainer_state
    resume_from = resume_checkpoint(state_dir, remove_incomplete=True)
    _trim_log(layout, resume_from)
    work = step_gflop(tokenizer, pairs, method, settings.batch_size, max_length, ModelFlops.of(model))
    writer = _CheckpointWriter(layout, method, pairs, settings, rows_per_question, total_steps, progress, work)
    if resume_from is not None and distributed.is_main():
        step = int(Path(resume_from).name.rsplit("-", 1)[1])
        print(resume_note(step, total_steps, writer.questions_seen, complete_checkpoints(run_dir, method)))
    # KTO's loss estimates its KL term from the whole batch, so splitting it would change the
    # loss; DPO's is a mean over independent rows, so only its step is split.
    micro = per_step
    if method == "dpo":
        micro = preference_micro_batch(_dpo_row_tokens(tokenizer, pairs, max_length), per_step, settings.batch_tokens)
    args = _trainer_args(method, state_dir, settings, preference, (micro, per_step // micro), max_length, model)
    with lean_trl_on_cpu(next(model.parameters()).device):
        with torch.random.fork_rng(devices=[]):  # LoRA A's init comes from the run's seed alone
            torch.manual_seed(settings.seed)
            trainer = _trainer_class(method)(
                model=model,
                args=args,
                train_dataset=Dataset.from_list(rows),
                processing_class=tokenizer,
                peft_config=lora_config(lora),
                callbacks=[writer],
            )
        from transformers import PrinterCallback

        trainer.remove_callback(PrinterCallback)  # likra's bar and log replace transformers' printed dicts
        update_manifest(run_dir, "train", status="running", total_steps=total_steps)
        started = time.perf_counter()
        try:
            trainer.train(resume_from_checkpoint=resume_from)
        finally:
            writer.close()
            set_activation_checkpointing(trainer.model, False)
            trainer.model.unload().eval()  # the caller gets its plain base model back, as it was
    checkpoints = finish_training(run_dir, method, total_steps, started)
    shutil.rmtree(state_dir, ignore_errors=True)  # finished: the optimiser state is no longer needed
    return checkpoints


# What transformers writes into ``checkpoint-K/`` for a LoRA model, trainer_state.json last.
TRAINER_CHECKPOINT_FILES = (ADAPTER_WEIGHTS, "optimizer.pt", "scheduler.pt", "trainer_state.json")


def resume_checkpoint(state_dir: Path, remove_incomplete: bool = False) -> str | None:
    """The newest complete ``checkpoint-K`` folder of transformers in ``state_dir``; None: start fresh.

    transformers writes these folders in place, so a kill while it saves leaves one empty or
    half-written, and resuming from it fails ("Can't find a valid checkpoint"). Such folders are
    skipped, and deleted when ``remove_incomplete`` (by the main process only)."""
    if not state_dir.is_dir():
        return None
    found = [(re.fullmatch(r"checkpoint-(\d+)", p.name), p) for p in state_dir.iterdir() if p.is_dir()]
    newest = None
    for _, folder in sorted(((int(m[1]), p) for m, p in found if m), reverse=True):
        if _complete_trainer_checkpoint(folder):
            newest = newest or str(folder)
        elif remove_incomplete and distributed.is_main():
            shutil.rmtree(folder, ignore_errors=True)
    return newest


def _complete_trainer_checkpoint(folder: Path) -> bool:
    """Every file there and whole: checked by structure only (nothing is unpickled here)."""
    from safetensors import SafetensorError, safe_open

    try:
        json.loads((folder / "trainer_state.json").read_text())
        if not all((folder / name).stat().st_size > 0 for name in TRAINER_CHECKPOINT_FILES):
            return False
        # torch.save writes a zip archive, whose directory is at the end: a cut file has none.
        for name in ("optimizer.pt", "scheduler.pt"):
            with zipfile.ZipFile(folder / name):
                pass
        with safe_open(str(folder / ADAPTER_WEIGHTS), "pt"):  # its header covers the whole file
            pass
        return True
    except (OSError, ValueError, zipfile.BadZipFile, SafetensorError):  # missing, or cut off mid-write
        return False


# Vocabulary columns per tile of TRL's fused LM head on CPU. TRL's 32768 is sized for a GPU; its
# torch fallback keeps several float32 copies of a tile alive in backward (completion tokens x
# columns x 4 B each, 37 MB at HellaSwag's ~280 completion tokens a micro-batch). 4096 columns
# cut them eightfold, for 12 instead of 2 matmuls per row of tiles (benchmarks/preference_memory.py).
CPU_LM_HEAD_COLUMNS = 4096


@contextlib.contextmanager
def lean_trl_on_cpu(device: torch.device) -> Iterator[None]:
    """Adjust three of TRL's GPU-sized choices for a model on ``device``, where on CPU they cost
    time or memory; none changes the arithmetic beyond float rounding (tests/test_methods.py).

    - Its fused LM head projects only the completion positions, as TRL does on CUDA/XPU only.
      Elsewhere it projects every position, prompt and padding included, so that a compiler
      (Neuron) sees one shape; eager CPU compiles nothing, and there the projection over the 49k
      vocabulary at ~6x the positions made up about half of each DPO step.
    - On CPU, the head's vocabulary tiles are ``CPU_LM_HEAD_COLUMNS`` wide (the DPO step's memory
      peak); on a GPU TRL's Triton kernel keeps its own width.
    - The model fingerprint that keys TRL's cache of reference log-probabilities hashes each
      weight's bytes in place: TRL's own copies the largest weight twice (float32 and bytes),
      ~230 MB for SmolLM2's embedding in bf16.

    If TRL renames what is adjusted, that adjustment does nothing and TRL's own path runs.
    """
    import importlib

    patches = []  # (module, name, replacement)
    with contextlib.suppress(ImportError):
        trl_utils = importlib.import_module("trl.trainer.utils")
        use_triton = getattr(trl_utils, "_use_triton", None)
        if use_triton is not None:
            patches.append((trl_utils, "_use_triton", lambda device: device.type == "cpu" or use_triton(device)))
        if device.type == "cpu" and hasattr(trl_utils, "_CHUNKED_LOGPROB_CHUNK_SIZE"):
            patches.append((trl_utils, "_CHUNKED_LOGPROB_CHUNK_SIZE", CPU_LM_HEAD_COLUMNS))
        for trainer in ("dpo_trainer", "kto_trainer"):
            module = importlib.import_module(f"trl.trainer.{trainer}")
            if hasattr(module, "hash_module"):
                patches.append((module, "hash_module", weights_fingerprint))
    originals = [(module, name, getattr(module, name)) for module, name, _ in patches]
    for module, name, replacement in patches:
        setattr(module, name, replacement)
    try:
        yield
    finally:
        for module, name, original in originals:
            setattr(module, name, original)


def weights_fingerprint(module: torch.nn.Module) -> str:
    """SHA-256 of every weight's name, dtype, shape and bytes, read in place (no copy)."""
    import hashlib

    digest = hashlib.sha256()
    for name, tensor in sorted(module.state_dict().items()):
        digest.update(f"{name}:{tensor.dtype}:{tuple(tensor.shape)}".encode())
        flat = tensor.detach().cpu().contiguous().reshape(-1)
        digest.update(flat.view(torch.uint8).numpy().data)  # a view: no float32 or bytes copy
    return digest.hexdigest()


def _trainer_class(method: str) -> Any:
    import trl

    return getattr(trl, TRL_RECIPES[method].trainer)


def _trainer_args(
    method: str,
    output_dir: Path,
    settings: TrainSettings,
    preference: PreferenceSettings,
    micro_batches: tuple[int, int],
    max_length: int,
    model: Any,
) -> Any:
    """TRL's config; ``micro_batches`` is (rows per forward pass, passes per optimiser step)."""
    import trl

    device = next(model.parameters()).device
    rows, accumulate = micro_batches
    common = dict(
        output_dir=str(output_dir),
        per_device_train_batch_size=rows,
        gradient_accumulation_steps=accumulate,
        precompute_ref_batch_size=rows,
        num_train_epochs=settings.epochs,
        learning_rate=settings.lr,
        lr_scheduler_type=preference.lr_scheduler,
        warmup_steps=0,
        weight_decay=settings.weight_decay,
        max_grad_norm=settings.max_grad_norm,
        beta=preference.beta,
        seed=settings.seed,
        data_seed=settings.seed,
        train_sampling_strategy="sequential",  # likra's question order, batch by batch
        precompute_ref_log_probs=True,  # the reference (adapter disabled) is fixed: compute it once
        max_length=max_length,
        activation_checkpointing=settings.activation_checkpointing,
        activation_checkpointing_kwargs={"use_reentrant": False},
        save_strategy="steps",
        save_steps=settings.save_every,
        save_total_limit=1,
        logging_steps=1,
        report_to="none",
        disable_tqdm=True,  # likra's own bar shows loss and examples/s
        use_cpu=device.type == "cpu",
        dataloader_num_workers=0,
    )
    recipe = TRL_RECIPES[method]
    return getattr(trl, recipe.config)(**recipe.config_options, **common)


def _trim_log(layout: RunLayout, resume_from: str | None) -> None:
    """Keep only the log rows up to the step training resumes after (none on a fresh start)."""
    if not distributed.is_main() or not layout.train_log.exists():
        return
    if resume_from is None:
        layout.train_log.unlink()
        return
    step = int(Path(resume_from).name.rsplit("-", 1)[1])
    atomic_write_jsonl(layout.train_log, [r for r in read_log(layout.train_log) if r["step"] <= step])


def _callback_base() -> type:
    from transformers import TrainerCallback

    return TrainerCallback


class _CheckpointWriter(_callback_base()):
    """Writes likra's checkpoints, log rows, progress bar and job progress from TRL's loop."""

    def __init__(
        self,
        layout: RunLayout,
        method: str,
        pairs: Sequence[QuestionExamples],
        settings: TrainSettings,
        rows_per_question: int,
        total_steps: int,
        progress: bool,
        work: Sequence[float] = (),
    ):
        self.layout, self.method, self.settings = layout, method, settings
        self.work = list(work)  # useful GFLOP of each step of an epoch (likra.training.step_cost)
        self.questions = len(pairs)
        self.rows_per_question, self.total_steps = rows_per_question, total_steps
        # Every question has as many negatives (preference_rows checks it), so as many sequences.
        self.sequences_per_question = len(TRL_RECIPES[method].sequences(pairs[0])) if pairs else 0
        self.done = set(complete_checkpoints(layout.root, method))  # complete ones are never rewritten
        self.progress = progress and distributed.is_main()
        self.bar: Any = None
        self.step_started = time.perf_counter()

    def questions_seen(self, step: int) -> int:
        """N after ``step`` (counted within the epoch, as likra's loop does)."""
        steps_per_epoch = math.ceil(self.questions / self.settings.batch_size)
        within = (step - 1) % steps_per_epoch + 1
        return min(within * self.settings.batch_size, self.questions)

    def _questions_in_step(self, step: int) -> int:
        steps_per_epoch = math.ceil(self.questions / self.settings.batch_size)
        first_of_epoch = (step - 1) % steps_per_epoch == 0
        return self.questions_seen(step) - (0 if first_of_epoch else self.questions_seen(step - 1))

    def on_train_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        self.bar = tqdm(
            total=self.total_steps,
            initial=state.global_step,
            desc=f"training ({self.method})",
            unit="step",
            disable=not self.progress,
        )
        self.step_started = time.perf_counter()

    def on_step_end(self, args: Any, state: Any, control: Any, model: Any = None, **kwargs: Any) -> None:
        step = state.global_step
        last = step == self.total_steps
        questions = self.questions_seen(step)
        name = checkpoint_name(questions)
        if (is_checkpoint_step(step) or last) and name not in self.done:
            self._save(model, step, questions)
            self.done.add(name)
        if is_checkpoint_step(step):
            control.should_save = True  # a resume point at every checkpoint, as likra's own loop
        release_freed_memory()  # as likra's own loop: resident memory must not grow with N

    def on_log(self, args: Any, state: Any, control: Any, logs: dict | None = None, **kwargs: Any) -> None:
        if not logs or "loss" not in logs:
            return
        step = state.global_step
        seconds = time.perf_counter() - self.step_started
        # Sequences trained on (a DPO row is two: chosen and rejected).
        examples = self._questions_in_step(step) * self.sequences_per_question
        row = {
            "step": step,
            "questions": self.questions_seen(step),
            f"{self.method}_loss": float(logs["loss"]),
            "seconds": round(seconds, 4),
            "examples": examples,
            "examples_per_s": round(examples / max(seconds, 1e-9), 2),
        }
        for key in ("rewards/margins", "rewards/accuracies", "rewards/chosen", "rewards/rejected", "kl"):
            if key in logs:
                row[key.replace("/", "_")] = float(logs[key])
        if distributed.is_main():
            append_jsonl(self.layout.train_log, row)
            log_scalars("train", step, row | {"lr": logs.get("learning_rate", self.settings.lr)})
        if self.work:
            job_progress.advance("preference", self.work[(step - 1) % len(self.work)])
        if not math.isfinite(row[f"{self.method}_loss"]):
            control.should_training_stop = True
            raise LikraError(
                f"training diverged at step {step}: {self.method} loss is {row[f'{self.method}_loss']}. "
                "Try a lower learning rate.",
                file=self.layout.root,
            )
        if self.bar is not None:
            postfix = {"loss": f"{row[f'{self.method}_loss']:.3f}", "ex_s": row["examples_per_s"]}
            if "rewards_margins" in row:
                postfix["margin"] = f"{row['rewards_margins']:.3f}"
            self.bar.set_postfix(**postfix)
            self.bar.update(step - self.bar.n)
        self.step_started = time.perf_counter()

    def _save(self, model: Any, step: int, questions: int) -> None:
        method = self.method

        def write(tmp: Path) -> None:
            # TRL's adapter is peft's "default": saved alone it lands in the folder itself.
            model.save_pretrained(tmp / method, selected_adapters=["default"], safe_serialization=True)
            if not (tmp / method / ADAPTER_WEIGHTS).exists():
                raise RuntimeError(f"peft did not write {tmp / method / ADAPTER_WEIGHTS}")
            atomic_write_json(tmp / CHECKPOINT_INFO, {"step": step, "questions": questions})

        atomic_write_folder(self.layout.checkpoint(checkpoint_name(questions)), write)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
