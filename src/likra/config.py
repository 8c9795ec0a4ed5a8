"""Command configs: a command's options as one frozen dataclass, each field with its help text.

A field made with ``option(default, help=...)`` is a command-line option of the command whose
config it is (``likra.cli.options`` builds the typer options from the fields); a plain field is
a setting that the command does not expose. Defaults, help and validation (the class's
``__post_init__``) are thus written once, in the config class, not again in the CLI.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import MISSING, Field, field, fields
from typing import Any

HELP = "help"  # metadata key of a field's help text
DECLS = "decls"  # metadata key of a field's own option names (``--json``), where not derived from its name
SHOWN = "shown"  # metadata key of the default --help shows where the field's own is None (decided later)


def option(
    default: Any = MISSING,
    *,
    help: str,
    decls: tuple[str, ...] = (),
    factory: Callable[[], Any] | None = None,
    shown: str | None = None,
) -> Any:
    """A config field that is a command-line option: its default (or ``factory``), help and names;
    ``shown`` is what --help prints as the default when the field's default is None because a
    preset or the method decides it (one way of showing defaults: ``[default: ...]``)."""
    metadata = {HELP: help, DECLS: decls, SHOWN: shown}
    if factory is not None:
        return field(default_factory=factory, metadata=metadata)
    return field(default=default, metadata=metadata)


def option_fields(config_class: type) -> list[Field]:
    """The fields of ``config_class`` that are command-line options, in declaration order."""
    return [f for f in fields(config_class) if HELP in f.metadata]


def field_default(spec: Field) -> Any:
    """A field's default value (a fresh one from its factory)."""
    return spec.default_factory() if spec.default_factory is not MISSING else spec.default


def option_values(config: Any) -> dict[str, Any]:
    """``{option name: value}`` of a config: what ``--print-config`` prints of it."""
    return {f.name: getattr(config, f.name) for f in option_fields(type(config))}
