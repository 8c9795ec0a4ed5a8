"""``likra data ...``: list the packaged benchmarks and show items."""

from __future__ import annotations

import json

import typer

from likra.data.items import Item

app = typer.Typer(help="Benchmarks and data sets.", no_args_is_help=True)


@app.command("list")
def list_command(
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of a table."),
) -> None:
    """List every task, its splits with item counts, and which splits are unlabelled."""
    from likra.api import tasks

    rows = tasks()
    if as_json:
        typer.echo(json.dumps(rows, indent=2))
        return
    width = max(len(r["name"]) for r in rows)
    for r in rows:
        splits = " ".join(f"{s}={n}" for s, n in r["splits"].items())
        if r["unlabelled_splits"]:
            splits += " (unlabelled: " + ", ".join(r["unlabelled_splits"]) + ")"
        typer.echo(f"{r['name']:<{width}}  {splits}")
        typer.echo(f"{'':<{width}}  {r['description']}")


def format_item(item: Item) -> str:
    """A readable dump: contexts as text (gutter '| '), choices with the gold marked, reprs."""

    def block(text: str) -> str:
        return "\n".join("    | " + line for line in text.split("\n"))

    lines = [f"id: {item.id}"]
    if len(set(item.contexts)) == 1:
        lines += ["  context:", block(item.contexts[0])]
    else:
        for i, context in enumerate(item.contexts):
            lines += [f"  context[{i}]:", block(context)]
    lines.append("  choices (* = gold):")
    for i, (choice, cont) in enumerate(zip(item.choices, item.continuations)):
        mark = "*" if i == item.gold else " "
        lines.append(f"   {mark}{i}. {choice!r}  continuation={cont!r}")
    if item.train_contexts is not None and item.train_continuations is not None:
        lines.append("  training form (context, answer):")
        for i, pair in enumerate(zip(item.train_contexts, item.train_continuations)):
            lines.append(f"    {i}. {pair!r}")
    return "\n".join(lines)


@app.command("show")
def show_command(
    task: str = typer.Argument(..., help="A task name (see `likra data list`) or a .jsonl file."),
    split: str = typer.Option(None, "--split", "-s", help="Split.", show_default="validation, if any"),
    n: int = typer.Option(3, "-n", help="How many items to show."),
    shots: int = typer.Option(0, "--shots", "-k", help="k-shot demonstrations to prepend."),
    seed: int = typer.Option(1234, "--seed", help="Seed for drawing demonstrations."),
) -> None:
    """Print the first N items of a split exactly as they will be scored."""
    from likra.api import default_split, items

    split = split or default_split(task)
    everything = items(task, split)
    shown = items(task, split, limit=n, shots=shots, seed=seed) if shots else everything[: max(n, 0)]
    typer.echo(f"{task} [{split}]: {len(everything)} items, showing {len(shown)}")
    for item in shown:
        typer.echo("")
        typer.echo(format_item(item))
