"""``likra generate``: text from a run's heads (or a bare model) in one decoding mode."""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Annotated, Any

import typer

from likra.cli.config_file import ConfigFile, PrintConfig, print_config
from likra.cli.options import config_options
from likra.generation.config import GenerateConfig

ESCAPES = {"\\n": "\n", "\\t": "\t"}


def unescape(text: str) -> str:
    """A --prompt or --stop value with ``\\n`` and ``\\t`` (as typed in a shell) made newline and tab."""
    for typed, meant in ESCAPES.items():
        text = text.replace(typed, meant)
    return text


def _unescaped(texts: list[str] | None) -> list[str] | None:
    return [unescape(text) for text in texts] if texts else None


@config_options(GenerateConfig)
def generate_command(
    ctx: typer.Context,
    target: Annotated[str, typer.Argument(help="A run directory (its heads), or a model (name/folder): base only.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print the rows as JSON.")] = False,
    quiet: Annotated[bool, typer.Option(help="No progress bar.")] = False,
    config: ConfigFile = None,
    print_settings: PrintConfig = False,
    **options: Any,
) -> None:
    """Generate text with both heads: contrastive, product of experts, rerank, or one head alone."""
    chosen = GenerateConfig(**options).resolved()
    if print_settings:
        print_config(ctx, chosen)  # prompts and stop strings as typed
    from tqdm.auto import tqdm

    from likra.generation.run import generate

    chosen = replace(chosen, prompt=_unescaped(chosen.prompt), stop=_unescaped(chosen.stop))
    with tqdm(desc="generating", unit="prompt", disable=quiet or as_json, leave=False) as bar:
        rows = generate(target, chosen.prompt, progress=bar.update, **chosen.generate_arguments())
    if as_json:
        typer.echo(json.dumps(rows, indent=2))
        return
    print_rows(rows)
    if chosen.grade:
        print_grades(rows)
    if chosen.out is not None:
        typer.echo(f"rows in {chosen.out}")


def print_grades(rows: list[dict]) -> None:
    """Each grader's shares of the answers, with their 95% intervals."""
    from likra.generation.grading import shares_lines

    for line in shares_lines(rows):
        typer.echo(line)


def print_rows(rows: list[dict]) -> None:
    """One block per prompt: a header line, the prompt, a separator with how it ended, the text."""
    for number, row in enumerate(rows, start=1):
        where = row["settings"]["checkpoint"] or row["settings"]["model"]
        typer.echo(f"=== {number}/{len(rows)} {row['id']} ({row['mode']}, {where})")
        typer.echo(row["prompt"])
        typer.echo(f"--- generated ({row['n_tokens']} tokens, {row['finish']})")
        typer.echo(row["text"])
