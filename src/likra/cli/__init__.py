"""The ``likra`` command line. Every command has a Python function of the same name in ``likra.api``."""

from __future__ import annotations

import errno
import sys

import typer

import likra
from likra.cli import data as _data
from likra.cli import experiments as _experiments
from likra.cli import generate as _generate
from likra.cli import harness as _harness
from likra.cli import run as _run
from likra.errors import FILE_SYSTEM_ERRNOS, FileSystemError, LikraError, file_system_error

NO_PATH_NEEDED = {errno.ENOSPC, errno.EDQUOT, errno.EROFS}  # one line even where no file is named

app = typer.Typer(
    help="likra: how much do language models learn from negative examples?",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


def _print_version(value: bool) -> None:
    if value:
        typer.echo(f"likra {likra.__version__}")
        raise typer.Exit()


@app.callback()
def _options(
    version: bool = typer.Option(
        False, "--version", callback=_print_version, is_eager=True, help="Print likra's version."
    ),
) -> None:
    """likra: how much do language models learn from negative examples?"""


app.add_typer(_data.app, name="data")
app.command("train")(_run.train_command)
app.command("eval")(_run.eval_command)
app.command("generate")(_generate.generate_command)
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


def _click_exceptions(name: str) -> tuple[type[BaseException], ...]:
    """``name`` from click and from the copy of click that typer >= 0.2x vendors (``typer._click``):
    commands raise the latter's classes, a plain ``click`` import does not catch them."""
    import importlib

    found = []
    for module in ("click.exceptions", "typer._click.exceptions"):
        try:
            found.append(getattr(importlib.import_module(module), name))
        except (ImportError, AttributeError):
            continue
    return tuple(found)


def _one_line(error: BaseException) -> str:
    """A click usage error as one line, with where to look for help."""
    message = " ".join(error.format_message().split())  # type: ignore[attr-defined]
    context = getattr(error, "ctx", None)
    if context is not None and getattr(context, "command_path", None):
        return f"{message} (see '{context.command_path} --help')"
    return message


def main() -> None:
    """Entry point: user errors print one clear line and exit 2 (operating-system errors: 74);
    no traceback."""
    _quiet_libraries()
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
    except _click_exceptions("Exit") + (typer.Exit,) as done:
        sys.exit(done.exit_code)
    except _click_exceptions("NoArgsIsHelpError") as error:
        error.show()  # a bare command: its help, as typer shows it
        sys.exit(error.exit_code)
    except _click_exceptions("ClickException") as error:
        typer.secho(f"error: {_one_line(error)}", err=True, fg=typer.colors.RED)
        sys.exit(error.exit_code)
    except _click_exceptions("Abort") + (typer.Abort,):
        typer.secho("interrupted: finished work is saved; re-run the same command to resume.", err=True)
        sys.exit(130)
    except LikraError as error:  # exit 2; a FileSystemError (one of them) 74
        typer.secho(f"error: {error}", err=True, fg=typer.colors.RED)
        sys.exit(error.exit_code)
    except OSError as error:
        # A read-only folder, a full disk, a parent that is a file, met outside likra.io's writers.
        if error.errno not in FILE_SYSTEM_ERRNOS or (error.filename is None and error.errno not in NO_PATH_NEEDED):
            raise
        typer.secho(f"error: {file_system_error(error)}", err=True, fg=typer.colors.RED)
        sys.exit(FileSystemError.exit_code)
    except KeyboardInterrupt:
        typer.secho("interrupted: finished work is saved; re-run the same command to resume.", err=True)
        sys.exit(130)
