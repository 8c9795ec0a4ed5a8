"""``likra reproduce``, ``likra curve``, ``likra negatives``, ``likra likelihoods``, ``likra report``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Optional

import typer

from likra.cli.config_file import ConfigFile, PrintConfig, print_config
from likra.model.precision import DEFAULT_DTYPE, check_dtype_choice
from likra.model.resolve import DEFAULT_MODEL
from likra.training.loop import TrainSettings

TRAIN = TrainSettings()  # defaults are defined once, in the settings class
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
Dtype = Annotated[
    str,
    typer.Option(
        help="Training precision: auto (bf16 where it trains faster: CUDA, AMX or AMD AVX512-BF16 CPUs; else fp32), "
        "fp32 or bf16.",
        callback=check_dtype_choice,
    ),
]
ScoreDtype = Annotated[
    str,
    typer.Option(
        help="Scoring precision: auto (= fp32: a likelihood ratio needs it), fp32 or bf16.", callback=check_dtype_choice
    ),
]


def reproduce_command(
    ctx: typer.Context,
    exp_dir: Annotated[Path, EXP_DIR] = Path("runs/reproduce"),
    profile: Annotated[
        str,
        typer.Option(
            help="quick (a whole small experiment in under 3 min on 2 CPU cores; underpowered verdicts), "
            "default (the README's results; 15-35 min on 2 CPU cores with fast bf16 training, up to "
            "1 h 45 min in fp32), methods (finding 10: likra, unlikelihood, DPO, KTO), pool (the whole ARC pool, "
            "3 seeds, ~2.5 h), winogrande (beyond ARC, 3 seeds, 1 h), hellaswag (the same; about 3 h estimated from Winogrande's rates) or full (paper size)."
        ),
    ] = "default",
    model: Annotated[Optional[str], typer.Option(help="Override the profile's model.")] = None,
    seeds: Annotated[Optional[str], typer.Option(help="Comma-separated seeds, e.g. 42,43,44.")] = None,
    points: Annotated[
        Optional[str], typer.Option(help="checkpoints (one run per seed) or subsets (a run per N).")
    ] = None,
    lr: Annotated[
        Optional[float], typer.Option(help="Override the profile's learning rate of likra's heads (constant AdamW).")
    ] = None,
    device: Device = None,
    dtype: Annotated[
        Optional[str],
        typer.Option(
            help="Override the profile's training precision: auto, fp32 or bf16.", callback=check_dtype_choice
        ),
    ] = None,
    score_dtype: Annotated[
        Optional[str],
        typer.Option(
            help="Override the profile's scoring precision: auto (= fp32), fp32 or bf16.", callback=check_dtype_choice
        ),
    ] = None,
    method_lr: Annotated[
        Optional[str],
        typer.Option(help="Other methods' learning rates, e.g. dpo=3e-3,unlikelihood=3e-3 (likra's is --lr)."),
    ] = None,
    quiet: Annotated[bool, typer.Option(help="No progress bars.")] = False,
    config: ConfigFile = None,
    print_settings: PrintConfig = False,
) -> None:
    """Run the paper's experiments on a profile and write REPORT.md with plots and findings."""
    if print_settings:
        print_config(ctx)
    from likra.api import reproduce
    from likra.experiments.profiles import get_profile, parse_method_lrs, parse_seeds

    chosen = get_profile(
        profile,
        model=model,
        seeds=parse_seeds(seeds) if seeds is not None else None,
        points=points,
        lr=lr,
        dtype=dtype,
        score_dtype=score_dtype,
        method_lrs=parse_method_lrs(method_lr) if method_lr else None,
    )
    report = reproduce(exp_dir, chosen, device=device, progress=not quiet)
    _print_findings(exp_dir)
    typer.echo(f"report: {report}")


def curve_command(
    ctx: typer.Context,
    exp_dir: Annotated[Path, EXP_DIR],
    train_task: TrainTask = "arc",
    eval_task: EvalTasks = ["arc_challenge:test"],
    max_questions: MaxQuestions = None,
    negatives: Annotated[
        str, typer.Option(help="Comma-separated strategies; the first draws the main curve.")
    ] = "first",
    model: Model = DEFAULT_MODEL,
    seeds: Seeds = "42,43,44",
    points: Annotated[str, typer.Option(help="checkpoints or subsets.")] = "checkpoints",
    batch_size: BatchSize = TRAIN.batch_size,
    lr: LearningRate = TRAIN.lr,
    ablation: Annotated[bool, typer.Option(help="Also run the question-ablated control.")] = False,
    methods: Annotated[
        str,
        typer.Option(
            help="Comma-separated training methods, each a curve on the same questions and negatives: "
            "likra (always drawn), sft, unlikelihood, dpo, kto."
        ),
    ] = "likra",
    device: Device = None,
    dtype: Dtype = DEFAULT_DTYPE,
    score_dtype: ScoreDtype = DEFAULT_DTYPE,
    quiet: Quiet = False,
    config: ConfigFile = None,
    print_settings: PrintConfig = False,
) -> None:
    """Learning curves of sft, likra and neg-only over N, several seeds, with 95% bands.

    ``--negatives first,other-question,...`` also draws the negative-types comparison."""
    if print_settings:
        print_config(ctx)
    from likra.api import curve
    from likra.experiments.profiles import parse_seeds

    strategies = [s.strip() for s in negatives.split(",") if s.strip()]
    report = curve(
        exp_dir,
        train_task,
        eval_task,
        max_questions,
        strategies,
        device=device,
        progress=not quiet,
        model=model,
        seeds=parse_seeds(seeds),
        points=points,
        batch_size=batch_size,
        lr=lr,
        ablation=ablation,
        dtype=dtype,
        score_dtype=score_dtype,
        methods=[m.strip() for m in methods.split(",") if m.strip()],
    )
    _print_findings(exp_dir)
    typer.echo(f"report: {report}")


def negatives_command(
    ctx: typer.Context,
    exp_dir: Annotated[Path, EXP_DIR],
    train_task: TrainTask = "arc",
    eval_task: EvalTasks = ["arc_challenge:test"],
    max_questions: MaxQuestions = None,
    negatives: Annotated[
        str, typer.Option(help="Strategies to compare.")
    ] = "first,random,hardest,easiest,other-question,all",
    model: Model = DEFAULT_MODEL,
    seeds: Seeds = "42",
    batch_size: BatchSize = TRAIN.batch_size,
    lr: LearningRate = TRAIN.lr,
    device: Device = None,
    dtype: Dtype = DEFAULT_DTYPE,
    score_dtype: ScoreDtype = DEFAULT_DTYPE,
    quiet: Quiet = False,
) -> None:
    """The learning curve for each negative strategy: near-miss vs implausible, measured."""
    curve_command(
        ctx,
        exp_dir,
        train_task=train_task,
        eval_task=eval_task,
        max_questions=max_questions,
        negatives=negatives,
        model=model,
        seeds=seeds,
        points="checkpoints",
        batch_size=batch_size,
        lr=lr,
        ablation=False,
        device=device,
        dtype=dtype,
        score_dtype=score_dtype,
        quiet=quiet,
    )


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
