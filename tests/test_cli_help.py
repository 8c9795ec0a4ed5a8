"""Every option of every ``likra`` command says what it does in ``--help``."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import typer

from likra.cli import app


def _commands(command: Any, path: tuple[str, ...]) -> Iterator[tuple[tuple[str, ...], Any]]:
    """The command and, depth first, every subcommand of a group (typer vendors its own click,
    so groups are recognised by their ``commands``, not by class)."""
    yield path, command
    for name, sub in (getattr(command, "commands", None) or {}).items():
        yield from _commands(sub, (*path, name))


def test_every_option_of_every_command_has_help() -> None:
    commands = list(_commands(typer.main.get_command(app), ("likra",)))
    assert {"train", "eval", "reproduce", "curve", "data"} <= {path[-1] for path, _ in commands}
    missing = [
        f"{' '.join(path)} {'/'.join(param.opts)}"
        for path, command in commands
        for param in command.params
        if param.param_type_name == "option"
        and "--help" not in param.opts
        and not (getattr(param, "help", None) or "").strip()
    ]
    assert not missing, f"options without help: {missing}"
