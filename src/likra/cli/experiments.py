"""``likra reproduce``, ``likra curve``, ``likra negatives``, ``likra likelihoods``, ``likra report``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Optional

import typer

EXP_DIR = typer.Argument(help="Experiment directory (re-run to resume; a finished one only rebuilds the report).")
# Options shared by `likra curve` and `likra negatives`.
TrainTask = Annotated[str, typer.Option(help="Training task or .jsonl file.")]
EvalTasks = Annotated[list[str], typer.Option(help="Evaluation task[:split[:limit]] (repeatable).")]
MaxQuestions = Annotated[Optional[int], typer.Option(help="Largest N (default: the whole pool).")]
Model = Annotated[str, typer.Option(help="Packaged name, model folder, .gguf file or Hub id.")]
Seeds = Annotated[str, typer.Option(help="Comma-separated seeds (question orders).")]
BatchSize = Annotated[int, typer.Option(help="Questions per optimiser step.")]
LearningRate = Annotated[float, typer.Option(help="Constant learning rate (AdamW).")]
Device = Annotated[Optional[str], typer.Option(help="cpu, cuda, ... (default: cuda if available).")]
Quiet = Annotated[bool, typer.Option(help="No progress bars.")]


def _seeds(text: Optional[str]) -> Optional[tuple[int, ...]]:
    return tuple(int(s) for s in text.split(",")) if text else None


def reproduce_command(
    exp_dir: Annotated[Path, EXP_DIR] = Path("runs/reproduce"),
    profile: Annotated[str, typer.Option(help="default (~30 min on 2 CPU cores) or full (paper size).")] = "default",
    model: Annotated[Optional[str], typer.Option(help="Override the profile's model.")] = None,
    seeds: Annotated[Optional[str], typer.Option(help="Comma-separated seeds, e.g. 42,43,44.")] = None,
    points: Annotated[Optional[str], typer.Option(help="checkpoints (one run per seed) or subsets (a run per N).")] = None,
    lr: Annotated[Optional[float], typer.Option()] = None,
    device: Annotated[Optional[str], typer.Option()] = None,
    quiet: Annotated[bool, typer.Option(help="No progress bars.")] = False,
) -> None:
    """Run the paper's experiments on a profile and write REPORT.md with plots and findings."""
    from likra.experiments.profiles import get_profile
    from likra.experiments.reproduce import reproduce

    chosen = get_profile(profile, model=model, seeds=_seeds(seeds), points=points, lr=lr)
    report = reproduce(exp_dir, chosen, device=device, progress=not quiet)
    _print_findings(exp_dir)
    typer.echo(f"report: {report}")


def curve_command(
    exp_dir: Annotated[Path, EXP_DIR],
    train_task: TrainTask = "arc",
    eval_task: EvalTasks = ["arc_challenge:test"],
    max_questions: MaxQuestions = None,
    negatives: Annotated[str, typer.Option(help="Comma-separated strategies; the first draws the main curve.")] = "first",
    model: Model = "smollm2-135m",
    seeds: Seeds = "42,43,44",
    points: Annotated[str, typer.Option(help="checkpoints or subsets.")] = "checkpoints",
    batch_size: BatchSize = 32,
    lr: LearningRate = 1e-3,
    ablation: Annotated[bool, typer.Option(help="Also run the question-ablated control.")] = False,
    device: Device = None,
    quiet: Quiet = False,
) -> None:
    """Learning curves of sft, likra and neg-only over N, several seeds, with 95% bands.

    ``--negatives first,other-question,...`` also draws the negative-types comparison."""
    from likra.experiments.profiles import EvalSet, Profile, Study
    from likra.experiments.reproduce import reproduce

    sets = []
    for spec in eval_task:
        parts = spec.split(":")
        sets.append(EvalSet(parts[0], parts[1] if len(parts) > 1 else "test", int(parts[2]) if len(parts) > 2 else None))
    strategies = [s.strip() for s in negatives.split(",") if s.strip()]
    if strategies[0] != "first":
        strategies = ["first"] + [s for s in strategies if s != "first"]
    profile = Profile(
        name="custom", model=model, studies=(Study(train_task, tuple(sets), max_questions),),
        seeds=_seeds(seeds) or (42,), lr=lr, batch_size=batch_size, points=points,
        negative_strategies=tuple(strategies[1:]), negatives_seeds=_seeds(seeds) or (42,),
        negatives_max_questions=max_questions, ablation=ablation,
        description=f"likra curve: train {train_task}, evaluate {', '.join(s.key for s in sets)}",
    )
    report = reproduce(exp_dir, profile, device=device, progress=not quiet)
    _print_findings(exp_dir)
    typer.echo(f"report: {report}")


def negatives_command(
    exp_dir: Annotated[Path, EXP_DIR],
    train_task: TrainTask = "arc",
    eval_task: EvalTasks = ["arc_challenge:test"],
    max_questions: MaxQuestions = None,
    negatives: Annotated[str, typer.Option(help="Strategies to compare.")] = "first,random,hardest,easiest,other-question,all",
    model: Model = "smollm2-135m",
    seeds: Seeds = "42",
    batch_size: BatchSize = 32,
    lr: LearningRate = 1e-3,
    device: Device = None,
    quiet: Quiet = False,
) -> None:
    """The learning curve for each negative strategy: near-miss vs implausible, measured."""
    curve_command(exp_dir, train_task=train_task, eval_task=eval_task, max_questions=max_questions,
                  negatives=negatives, model=model, seeds=seeds, points="checkpoints", batch_size=batch_size,
                  lr=lr, ablation=False, device=device, quiet=quiet)


def likelihoods_command(exp_dir: Annotated[Path, EXP_DIR],
                        as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """How gold, most plausible wrong and other wrong answers move under base/pos/neg with N."""
    from likra.experiments.analysis import likelihood_table, load_results, main_key
    from likra.experiments.reproduce import load_profile

    profile = load_profile(exp_dir)
    table = likelihood_table(load_results(exp_dir, profile), main_key(profile))
    if as_json:
        typer.echo(json.dumps(table, indent=2))
        return
    for row in table:
        typer.echo(f"N={row['N']:>5}  " + "  ".join(
            f"{k}={v:.3f}" for k, v in row.items() if k != "N" and (k.startswith("outranks") or "/" in k)))


def report_command(exp_dir: Annotated[Path, EXP_DIR]) -> None:
    """Rebuild REPORT.md, plots and CSVs of an experiment from its stored scores."""
    from likra.experiments.reproduce import build_report

    typer.echo(f"report: {build_report(exp_dir)}")
    _print_findings(exp_dir)


def _print_findings(exp_dir: Path) -> None:
    from likra.report.markdown import findings_json

    for f in findings_json(exp_dir):
        typer.echo(f"  [{f['verdict']:>13}] {f['finding']}. {f['claim']}\n                  {f['evidence']}")
