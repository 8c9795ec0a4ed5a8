"""``likra train`` and ``likra eval``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Optional

import typer

from likra.cli.config_file import ConfigFile, PrintConfig, print_config
from likra.errors import LikraError, unknown_name
from likra.methods import DEFAULT_METHOD, METHODS, PREFERENCE_METHODS
from likra.model.heads import LoraSettings
from likra.model.precision import DEFAULT_DTYPE, check_dtype_choice
from likra.model.resolve import DEFAULT_MODEL
from likra.tracking import REPORT_TO_HELP
from likra.training.loop import TrainSettings
from likra.training.preference import PreferenceSettings
from likra.training.presets import PRESETS, default_lr

LORA, TRAIN = LoraSettings(), TrainSettings()  # the defaults, defined once in the settings classes

RUN_DIR = typer.Argument(help="Run directory (created if absent; re-run to resume).")


def train_command(
    ctx: typer.Context,
    run_dir: Annotated[Path, RUN_DIR],
    model: Annotated[str, typer.Option(help="Packaged name, model folder, .gguf file or Hub id.")] = DEFAULT_MODEL,
    task: Annotated[
        str, typer.Option(help="Training task (e.g. arc, hellaswag, winogrande) or a .jsonl file.")
    ] = "arc",
    split: Annotated[str, typer.Option(help="Split of the training task.")] = "train",
    negatives: Annotated[
        str, typer.Option(help="Negative strategy: first, random, all, hardest, easiest, other-question.")
    ] = "first",
    max_questions: Annotated[
        Optional[int], typer.Option(help="Train on the first N questions of the seed's order.")
    ] = None,
    seed: Annotated[int, typer.Option(help="Seed of the question order (and random negatives).")] = TRAIN.seed,
    method: Annotated[
        str, typer.Option(help=f"How to learn from the negatives: {', '.join(METHODS)}.")
    ] = DEFAULT_METHOD,
    preset: Annotated[
        str,
        typer.Option(
            help="budget: likra's budget (1 epoch, constant LR, likra's LoRA) for every method; "
            "reference: the reference code's DPO baseline (LoRA r=16 on all 7 projections, lr 5e-5 cosine, "
            "batch 4, 3 epochs). Options given explicitly override the preset."
        ),
    ] = "budget",
    lr: Annotated[
        Optional[float], typer.Option(help="Learning rate (AdamW). Default: the method's, from benchmarks/lr_sweep*.")
    ] = None,
    beta: Annotated[float, typer.Option(help="DPO/KTO beta.")] = PreferenceSettings.beta,
    unlikelihood_alpha: Annotated[
        float, typer.Option(help="Weight of the unlikelihood term (--method unlikelihood).")
    ] = TRAIN.unlikelihood_alpha,
    batch_size: Annotated[Optional[int], typer.Option(help="Questions per optimiser step (default 32).")] = None,
    epochs: Annotated[Optional[int], typer.Option(help="Passes over the questions (default 1).")] = None,
    save_every: Annotated[
        int, typer.Option(help="Save resume state every N optimiser steps (and at checkpoints).")
    ] = TRAIN.save_every,
    lora_r: Annotated[Optional[int], typer.Option(help=f"LoRA rank (default {LORA.r}).")] = None,
    lora_alpha: Annotated[Optional[int], typer.Option(help=f"LoRA alpha (default {LORA.alpha}).")] = None,
    lora_dropout: Annotated[
        float, typer.Option(help=f"LoRA dropout probability, in [0, 1) (default {LORA.dropout}).")
    ] = LORA.dropout,
    lora_targets: Annotated[
        Optional[str], typer.Option(help=f"Comma-separated module names (default {','.join(LORA.target_modules)}).")
    ] = None,
    base_scores: Annotated[
        Optional[Path], typer.Option(help="scores.jsonl of the base model on the training split (for hardest/easiest).")
    ] = None,
    contamination: Annotated[float, typer.Option(help="Fraction of negatives replaced by positives.")] = 0.0,
    device: Annotated[Optional[str], typer.Option(help="cpu, cuda, ... (default: cuda if available).")] = None,
    dtype: Annotated[
        str,
        typer.Option(
            help="Training precision of the base model: auto (bf16 where it trains faster: CUDA, AMX or AMD "
            "AVX512-BF16 CPUs; else fp32), fp32 or bf16.",
            callback=check_dtype_choice,
        ),
    ] = DEFAULT_DTYPE,
    activation_checkpointing: Annotated[
        bool,
        typer.Option(
            help="Recompute activations in backward: less memory; off trains ~20% faster on CPU for ~1 GB "
            "more with SmolLM2 (the same numbers either way)."
        ),
    ] = TRAIN.activation_checkpointing,
    report_to: Annotated[str, typer.Option(help=REPORT_TO_HELP)] = "none",
    quiet: Annotated[bool, typer.Option(help="No progress bar.")] = False,
    config: ConfigFile = None,
    print_settings: PrintConfig = False,
) -> None:
    """Train the LoRA heads of a method (likra: positive and negative); checkpoints after 1, 2, 4, ... steps."""
    from likra.api import train

    if preset not in PRESETS:
        raise unknown_name("preset", preset, list(PRESETS))
    chosen = PRESETS[preset]
    if chosen.lr_scheduler != "constant" and method not in PREFERENCE_METHODS:
        raise LikraError(
            f"preset '{preset}' is the reference's DPO baseline; use it with --method dpo or kto", field="preset"
        )
    lora = LoraSettings(
        r=lora_r if lora_r is not None else chosen.lora.r,
        alpha=lora_alpha if lora_alpha is not None else chosen.lora.alpha,
        dropout=lora_dropout,
        target_modules=(
            tuple(t.strip() for t in lora_targets.split(",") if t.strip())
            if lora_targets is not None
            else chosen.lora.target_modules
        ),
    )
    settings = TrainSettings(
        lr=lr if lr is not None else (chosen.lr or default_lr(method)),
        batch_size=batch_size if batch_size is not None else chosen.batch_size,
        epochs=epochs if epochs is not None else chosen.epochs,
        seed=seed,
        save_every=save_every,
        unlikelihood_alpha=unlikelihood_alpha,
        activation_checkpointing=activation_checkpointing,
    )
    preference = PreferenceSettings(beta=beta, lr_scheduler=chosen.lr_scheduler)
    if print_settings:
        from likra.model.load import chosen_dtype
        from likra.model.precision import dtype_name

        resolved = {
            "lr": settings.lr,
            "batch_size": settings.batch_size,
            "epochs": settings.epochs,
            "lora_r": lora.r,
            "lora_alpha": lora.alpha,
            "lora_targets": ",".join(lora.target_modules),
            "dtype": dtype_name(chosen_dtype(device, dtype)),
        }
        print_config(ctx, resolved)
    checkpoints = train(
        run_dir,
        model=model,
        task=task,
        split=split,
        strategy=negatives,
        max_questions=max_questions,
        lora=lora,
        settings=settings,
        base_scores=base_scores,
        contamination=contamination,
        device=device,
        dtype=dtype,
        progress=not quiet,
        method=method,
        preference=preference,
        report_to=report_to,
    )
    typer.echo(f"checkpoints in {run_dir / 'checkpoints'}: {', '.join(checkpoints)}")


def eval_command(
    ctx: typer.Context,
    target: Annotated[str, typer.Argument(help="A run directory, or a model (name/folder) for base-only scores.")],
    task: Annotated[str, typer.Option(help="Evaluation task or .jsonl file.")] = "arc_challenge",
    split: Annotated[str, typer.Option(help="Split of the evaluation task (needs public labels).")] = "test",
    checkpoint: Annotated[
        str, typer.Option(help="'all', 'final', or comma-separated names (N-0 = untrained).")
    ] = "all",
    limit: Annotated[Optional[int], typer.Option(help="Only the first N items.")] = None,
    shots: Annotated[int, typer.Option(help="k-shot demonstrations from the task's train split.")] = 0,
    out: Annotated[Optional[Path], typer.Option(help="Output folder when TARGET is a bare model.")] = None,
    device: Annotated[Optional[str], typer.Option(help="cpu, cuda, ... (default: cuda if available).")] = None,
    dtype: Annotated[
        str,
        typer.Option(
            help="Scoring precision: auto (= fp32: a likelihood ratio needs it), fp32 or bf16 (faster on some "
            "hardware; ratio modes lose their ranking at small N).",
            callback=check_dtype_choice,
        ),
    ] = DEFAULT_DTYPE,
    as_json: Annotated[bool, typer.Option("--json", help="Print metrics as JSON.")] = False,
    report_to: Annotated[str, typer.Option(help=REPORT_TO_HELP)] = "none",
    quiet: Annotated[bool, typer.Option(help="No progress bar.")] = False,
    config: ConfigFile = None,
    print_settings: PrintConfig = False,
) -> None:
    """Score every choice under base, pos and neg; print acc/acc_norm of every mode."""
    if print_settings:
        print_config(ctx)
    from likra.api import evaluate

    chosen = checkpoint if checkpoint in ("all", "final") else [c.strip() for c in checkpoint.split(",")]
    results = evaluate(
        target,
        task=task,
        split=split,
        checkpoints=chosen,
        limit=limit,
        shots=shots,
        out_dir=out,
        device=device,
        progress=not quiet,
        dtype=dtype,
        report_to=report_to,
    )
    if as_json:
        typer.echo(json.dumps(results if len(results) > 1 else results[0], indent=2))
        return
    for metrics in results:
        typer.echo(
            f"{metrics['task']} {metrics['split']} n={metrics['n_items']} "
            f"model={metrics['model']} checkpoint={metrics['checkpoint'] or '-'} shots={metrics['shots']}"
        )
        for mode, m in metrics["modes"].items():
            lo, hi = m["acc_ci95"]
            nlo, nhi = m["acc_norm_ci95"]
            typer.echo(
                f"  {mode:9s} acc {m['acc']:.4f} [{lo:.3f}, {hi:.3f}]  "
                f"acc_norm {m['acc_norm']:.4f} [{nlo:.3f}, {nhi:.3f}]  ties {m['ties']}"
            )
