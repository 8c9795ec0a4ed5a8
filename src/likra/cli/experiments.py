"""``likra reproduce``, ``likra curve``, ``likra negatives``, ``likra likelihoods``, ``likra report``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from likra.cli.config_file import ConfigFile, PrintConfig, print_config
from likra.cli.options import config_options
from likra.experiments.config import CurveConfig, NegativesConfig, ReproduceConfig

EXP_DIR = typer.Argument(help="Experiment directory (re-run to resume; a finished one only rebuilds the report).")
Quiet = Annotated[bool, typer.Option(help="No progress bars.")]
PrintProfile = Annotated[
    bool,
    typer.Option(
        "--print-profile",
        help="Print the resolved profile (every setting, as profile.json will hold it) as JSON and exit.",
    ),
]


@config_options(ReproduceConfig)
def reproduce_command(
    ctx: typer.Context,
    exp_dir: Annotated[Path, EXP_DIR] = Path("runs/reproduce"),
    quiet: Quiet = False,
    config: ConfigFile = None,
    print_settings: PrintConfig = False,
    print_profile: PrintProfile = False,
    **options: Any,
) -> None:
    """Run the paper's experiments on a profile and write REPORT.md with plots and findings."""
    chosen = ReproduceConfig(**options).resolved()
    if print_settings:
        print_config(ctx, chosen)
    if print_profile:
        typer.echo(json.dumps(chosen.to_profile().to_dict(), indent=2))
        raise typer.Exit()
    from likra.api import reproduce

    report = reproduce(
        exp_dir, chosen.to_profile(), device=chosen.device, progress=not quiet, only_seeds=chosen.part_seeds()
    )
    if report is None:  # a part: the log said which seeds are left
        return
    _print_findings(exp_dir)
    typer.echo(f"report: {report}")


@config_options(CurveConfig)
def curve_command(
    ctx: typer.Context,
    exp_dir: Annotated[Path, EXP_DIR],
    quiet: Quiet = False,
    config: ConfigFile = None,
    print_settings: PrintConfig = False,
    **options: Any,
) -> None:
    """Learning curves of sft, likra and neg-only over N, several seeds, with 95% bands.

    ``--negatives first,other-question,...`` also draws the negative-types comparison."""
    chosen = CurveConfig(**options).resolved()
    if print_settings:
        print_config(ctx, chosen)
    _run_curve(exp_dir, chosen, quiet)


@config_options(NegativesConfig)
def negatives_command(exp_dir: Annotated[Path, EXP_DIR], quiet: Quiet = False, **options: Any) -> None:
    """The learning curve for each negative strategy: near-miss vs implausible, measured."""
    _run_curve(exp_dir, NegativesConfig(**options).resolved(), quiet)


def _run_curve(exp_dir: Path, chosen: CurveConfig, quiet: bool) -> None:
    from likra.api import curve

    report = curve(exp_dir, progress=not quiet, **chosen.curve_arguments())
    _print_findings(exp_dir)
    typer.echo(f"report: {report}")


def likelihoods_command(
    exp_dir: Annotated[Path, EXP_DIR],
    as_json: Annotated[bool, typer.Option("--json", help="Print the table as JSON.")] = False,
) -> None:
    """How gold, most plausible wrong and other wrong answers move under base/pos/neg with N."""
    from likra.api import likelihoods

    table = likelihoods(exp_dir)
    if as_json:
        typer.echo(json.dumps([{k: (v if k == "N" else v.to_dict()) for k, v in r.items()} for r in table], indent=2))
        return
    for row in table:
        typer.echo(f"N={row['N']:>5}  " + "  ".join(f"{k}={v.fmt()}" for k, v in row.items() if k != "N"))


def report_command(exp_dir: Annotated[Path, EXP_DIR]) -> None:
    """Rebuild REPORT.md, plots and CSVs of an experiment from its stored scores."""
    from likra.api import report

    typer.echo(f"report: {report(exp_dir)}")
    _print_findings(exp_dir)


def _print_findings(exp_dir: Path) -> None:
    from likra.reporting.build import findings_json

    for f in findings_json(exp_dir):
        typer.echo(f"  [{f['verdict']:>13}] {f['finding']}. {f['claim']}\n                  {f['evidence']}")
