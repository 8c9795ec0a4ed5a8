"""``likra data ...``: list the packaged benchmarks and show items."""

from __future__ import annotations

import typer

app = typer.Typer(help="Benchmarks and data sets.", no_args_is_help=True)
