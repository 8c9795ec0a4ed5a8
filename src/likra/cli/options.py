"""A command's options built from its config class (``likra.config``), not declared again.

Typer reads a command's options from its signature and has no way to take them from a
dataclass (fastapi/typer#154 is open), so ``config_options`` writes that signature: the command
declares its arguments and its CLI-only options (--quiet, --json, --config, --print-config) and
takes the config's fields as ``**options``; each field becomes an ``Annotated[type,
typer.Option(help=...)]`` parameter with the field's default, placed after the arguments.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Annotated, Any, TypeVar, get_args, get_origin, get_type_hints

import typer
from typer.models import ArgumentInfo

from likra.config import DECLS, HELP, SHOWN, field_default, option_fields

Command = TypeVar("Command", bound=Callable[..., Any])


def _parameters(config_class: type) -> list[inspect.Parameter]:
    """One keyword parameter per option field of ``config_class``."""
    hints = get_type_hints(config_class)
    return [
        inspect.Parameter(
            spec.name,
            inspect.Parameter.KEYWORD_ONLY,
            default=field_default(spec),
            annotation=Annotated[
                hints[spec.name],
                typer.Option(
                    *spec.metadata[DECLS],
                    help=spec.metadata[HELP],
                    show_default=spec.metadata.get(SHOWN) or True,
                ),
            ],
        )
        for spec in option_fields(config_class)
    ]


def _leads(parameter: inspect.Parameter) -> bool:
    """The context and the arguments, which come before the options."""
    if parameter.annotation is typer.Context:
        return True
    return get_origin(parameter.annotation) is Annotated and any(
        isinstance(info, ArgumentInfo) for info in get_args(parameter.annotation)[1:]
    )


def config_options(config_class: type) -> Callable[[Command], Command]:
    """Give a command taking ``**options`` the option fields of ``config_class`` as its options."""

    def build(command: Command) -> Command:
        declared = inspect.signature(command, eval_str=True).parameters.values()
        own = [p for p in declared if p.kind is not inspect.Parameter.VAR_KEYWORD]
        leading = [p for p in own if _leads(p)]
        trailing = [p.replace(kind=inspect.Parameter.KEYWORD_ONLY) for p in own if not _leads(p)]
        options = _parameters(config_class)
        clash = {p.name for p in options} & {p.name for p in own}
        assert not clash, f"{command.__name__} declares config fields itself: {sorted(clash)}"
        parameters = [*leading, *options, *trailing]
        command.__signature__ = inspect.Signature(parameters)  # type: ignore[attr-defined]
        command.__annotations__ = {p.name: p.annotation for p in parameters}
        return command

    return build
