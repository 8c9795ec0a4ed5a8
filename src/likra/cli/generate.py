"""``likra generate``: text from a run's heads (or a bare model) in one decoding mode."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Optional

import typer

from likra.cli.config_file import ConfigFile, PrintConfig, print_config
from likra.generation.decoding import MODES, GenerateSettings
from likra.generation.run import DEFAULT_BATCH, TASK_STOP
from likra.model.precision import DEFAULT_DTYPE, check_dtype_choice

DEFAULTS = GenerateSettings()  # the defaults, defined once in the settings class
ESCAPES = {"\\n": "\n", "\\t": "\t"}


def unescape(text: str) -> str:
    """A --prompt or --stop value with ``\\n`` and ``\\t`` (as typed in a shell) made newline and tab."""
    for typed, meant in ESCAPES.items():
        text = text.replace(typed, meant)
    return text


def generate_command(
    ctx: typer.Context,
    target: Annotated[str, typer.Argument(help="A run directory (its heads), or a model (name/folder): base only.")],
    prompt: Annotated[
        Optional[list[str]],
        typer.Option(help="A prompt to continue (repeatable; \\n and \\t in it mean newline and tab). Or --task."),
    ] = None,
    task: Annotated[
        Optional[str], typer.Option(help="Generate for each question of this task (or .jsonl), without its choices.")
    ] = None,
    split: Annotated[str, typer.Option(help="Split of --task.")] = "test",
    limit: Annotated[Optional[int], typer.Option(help="Only the first N questions of --task.")] = None,
    mode: Annotated[
        Optional[str],
        typer.Option(
            help=f"Decoding: {', '.join(MODES)}. Default: contrastive for a likra run, the run's adapter for "
            "a one-adapter run (sft: pos), base for a model."
        ),
    ] = None,
    checkpoint: Annotated[
        str, typer.Option(help="The run's checkpoint (N-64, ...; N-0 = untrained heads); final = the last.")
    ] = "final",
    max_new_tokens: Annotated[int, typer.Option(help="Most tokens to generate per prompt.")] = DEFAULTS.max_new_tokens,
    sample: Annotated[
        bool, typer.Option("--sample", help="Sample (temperature, top-p, seed) instead of greedy.")
    ] = False,
    temperature: Annotated[float, typer.Option(help="Sampling temperature, > 0.")] = DEFAULTS.temperature,
    top_p: Annotated[float, typer.Option(help="Nucleus sampling: keep the top tokens up to this mass, in (0, 1].")] = (
        DEFAULTS.top_p
    ),
    seed: Annotated[int, typer.Option(help="Seed of sampling (the same seed, the same text).")] = DEFAULTS.seed,
    alpha: Annotated[
        float, typer.Option(help="contrastive: keep tokens with p_pos >= alpha * the top token's, in (0, 1].")
    ] = DEFAULTS.alpha,
    weight: Annotated[float, typer.Option(help="contrastive: w in log p_pos - w log p_neg, >= 0.")] = DEFAULTS.weight,
    beta: Annotated[float, typer.Option(help="experts: logits_base + beta (logits_pos - logits_neg).")] = DEFAULTS.beta,
    k: Annotated[int, typer.Option(help="rerank: candidates per prompt from the positive head, >= 1.")] = DEFAULTS.k,
    stop: Annotated[
        Optional[list[str]],
        typer.Option(
            help="Stop at the first occurrence of this text and drop it (repeatable; \\n and \\t in it mean "
            "newline and tab). "
            f"Default: none for --prompt, {json.dumps(TASK_STOP[0])} for --task."
        ),
    ] = None,
    batch_size: Annotated[int, typer.Option(help="Prompts decoded together.")] = DEFAULT_BATCH,
    out: Annotated[Optional[Path], typer.Option(help="Write one JSON row per prompt to this .jsonl file.")] = None,
    device: Annotated[Optional[str], typer.Option(help="cpu, cuda, ... (default: cuda if available).")] = None,
    dtype: Annotated[
        str,
        typer.Option(help="Precision: auto (= fp32, as scoring), fp32 or bf16.", callback=check_dtype_choice),
    ] = DEFAULT_DTYPE,
    as_json: Annotated[bool, typer.Option("--json", help="Print the rows as JSON.")] = False,
    grade: Annotated[
        bool,
        typer.Option(
            help="With --task: grade each answer against the item's choices (gold, a known wrong choice, "
            "or other) and print each grade's share with its 95% interval."
        ),
    ] = False,
    quiet: Annotated[bool, typer.Option(help="No progress bar.")] = False,
    config: ConfigFile = None,
    print_settings: PrintConfig = False,
) -> None:
    """Generate text with both heads: contrastive, product of experts, rerank, or one head alone."""
    if print_settings:
        print_config(ctx)
    from tqdm.auto import tqdm

    from likra.generation.run import generate

    decoding = dict(
        max_new_tokens=max_new_tokens,
        sample=sample,
        temperature=temperature,
        top_p=top_p,
        seed=seed,
        alpha=alpha,
        weight=weight,
        beta=beta,
        k=k,
    )
    if stop:
        decoding["stop"] = tuple(unescape(s) for s in stop)
    with tqdm(desc="generating", unit="prompt", disable=quiet or as_json, leave=False) as bar:
        rows = generate(
            target,
            [unescape(p) for p in prompt] if prompt else None,
            task=task,
            split=split,
            limit=limit,
            checkpoint=checkpoint,
            mode=mode,
            device=device,
            dtype=dtype,
            batch_size=batch_size,
            out=out,
            progress=bar.update,
            grade=grade,
            **decoding,
        )
    if as_json:
        typer.echo(json.dumps(rows, indent=2))
        return
    print_rows(rows)
    if grade:
        print_grades(rows)
    if out is not None:
        typer.echo(f"rows in {out}")


def print_grades(rows: list[dict]) -> None:
    """Each grade's share of the answers, with its 95% interval."""
    from likra.generation.grading import GRADES, grade_shares

    shares = grade_shares([row["grade"] for row in rows])
    names = {"gold": "the gold answer", "wrong": "a known wrong choice", "other": "neither"}
    typer.echo(f"=== graded {len(rows)} answers ({rows[0]['mode']}) against each item's choices")
    for name in GRADES:
        s = shares[name]
        typer.echo(f"{names[name]:>22}: {s['share']:.3f} [{s['lo']:.3f}, {s['hi']:.3f}] ({s['count']})")


def print_rows(rows: list[dict]) -> None:
    """One block per prompt: a header line, the prompt, a separator with how it ended, the text."""
    for number, row in enumerate(rows, start=1):
        where = row["settings"]["checkpoint"] or row["settings"]["model"]
        typer.echo(f"=== {number}/{len(rows)} {row['id']} ({row['mode']}, {where})")
        typer.echo(row["prompt"])
        typer.echo(f"--- generated ({row['n_tokens']} tokens, {row['finish']})")
        typer.echo(row["text"])
