"""The ``likra`` command line. Every command has a Python function of the same name in ``likra.api``."""

from __future__ import annotations

import sys

import typer

from likra.cli import data as _data
from likra.cli import experiments as _experiments
from likra.cli import harness as _harness
from likra.cli import run as _run
from likra.errors import LikraError

app = typer.Typer(
    help="likra: how much do language models learn from negative examples?",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
app.add_typer(_data.app, name="data")
app.command("train")(_run.train_command)
app.command("eval")(_run.eval_command)
app.command("reproduce")(_experiments.reproduce_command)
app.command("curve")(_experiments.curve_command)
app.command("negatives")(_experiments.negatives_command)
app.command("likelihoods")(_experiments.likelihoods_command)
app.command("report")(_experiments.report_command)
app.command(
    "harness",
    context_settings={"allow_extra_args": True, "ignore_unknown_options": True, "help_option_names": []},
)(_harness.harness_command)


def _quiet_libraries() -> None:
    """Keep the terminal for likra's own progress bars: no library bars or deprecation noise."""
    import os
    import warnings

    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    warnings.filterwarnings("ignore", category=FutureWarning)
    try:
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()
    except ImportError:  # pragma: no cover
        pass


def main() -> None:
    """Entry point: user errors print one clear line and exit 2; no traceback."""
    _quiet_libraries()
    import click

    from likra import distributed

    distributed.setup()  # under accelerate launch / torchrun: join the other processes

    try:
        code = app(standalone_mode=False)
        # Outside standalone mode typer *returns* exit codes: Ctrl-C inside a command becomes
        # 130 (it catches KeyboardInterrupt itself), typer.Exit(n) becomes n.
        if code == 130:
            raise KeyboardInterrupt
        if isinstance(code, int) and not isinstance(code, bool) and code != 0:
            sys.exit(code)
    except click.exceptions.Exit as done:
        sys.exit(done.exit_code)
    except click.ClickException as error:
        error.show()
        sys.exit(error.exit_code)
    except click.exceptions.Abort:
        typer.secho("interrupted: finished work is saved; re-run the same command to resume.", err=True)
        sys.exit(130)
    except LikraError as error:
        typer.secho(f"error: {error}", err=True, fg=typer.colors.RED)
        sys.exit(2)
    except KeyboardInterrupt:
        typer.secho("interrupted: finished work is saved; re-run the same command to resume.", err=True)
        sys.exit(130)
