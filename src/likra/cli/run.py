"""``likra train`` and ``likra eval``: their options are their config classes' fields."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from likra.cli.config_file import ConfigFile, PrintConfig, print_config
from likra.cli.options import config_options
from likra.score.config import EvalConfig
from likra.training.config import TrainConfig

RUN_DIR = typer.Argument(help="Run directory (created if absent; re-run to resume).")
Quiet = Annotated[bool, typer.Option(help="No progress bar.")]


@config_options(TrainConfig)
def train_command(
    ctx: typer.Context,
    run_dir: Annotated[Path, RUN_DIR],
    quiet: Quiet = False,
    config: ConfigFile = None,
    print_settings: PrintConfig = False,
    **options: Any,
) -> None:
    """Train the LoRA heads of a method (likra: positive and negative); checkpoints after 1, 2, 4, ... steps."""
    from likra.api import train

    chosen = TrainConfig(**options).resolved()
    if print_settings:
        print_config(ctx, chosen)
    checkpoints = train(run_dir, progress=not quiet, **chosen.train_arguments())
    typer.echo(f"checkpoints in {run_dir / 'checkpoints'}: {', '.join(checkpoints)}")


@config_options(EvalConfig)
def eval_command(
    ctx: typer.Context,
    target: Annotated[str, typer.Argument(help="A run directory, or a model (name/folder) for base-only scores.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print metrics as JSON.")] = False,
    quiet: Quiet = False,
    config: ConfigFile = None,
    print_settings: PrintConfig = False,
    **options: Any,
) -> None:
    """Score every choice under base, pos and neg; print acc/acc_norm of every mode."""
    chosen = EvalConfig(**options).resolved()
    if print_settings:
        print_config(ctx, chosen)
    from likra.api import evaluate

    results = evaluate(target, progress=not quiet, **chosen.evaluate_arguments())
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
