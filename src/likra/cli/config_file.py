"""``--config FILE`` and ``--print-config``: a command's options as a file you keep beside a result.

``--config`` reads a YAML (or ``.toml``) file whose keys are the command's option names (as
``--print-config`` writes them) and hands it to click as the command's defaults (``default_map``),
so options given on the command line still win. ``--print-config`` prints the options the
command would run with, presets and ``auto`` resolved, and exits without running:

    likra train runs/a --preset reference --method dpo --print-config > dpo.yaml
    likra train runs/b --config dpo.yaml          # the same run (runs/b's config.json equals runs/a's)
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Annotated, Any, Optional

import typer
import yaml

from likra.config import option_values
from likra.errors import LikraError

NOT_SETTINGS = ("config", "print_settings", "print_profile")  # --config, --print-config, --print-profile


def option_names(ctx: typer.Context) -> list[str]:
    """The command's option names in declaration order (its arguments, such as the run folder, and
    --config / --print-config themselves are not settings)."""
    return [p.name for p in ctx.command.params if p.param_type_name == "option" and p.name not in NOT_SETTINGS]


def read_config_file(path: Path) -> dict[str, Any]:
    """The options in a YAML or TOML file; one line naming the file when it cannot be read."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise LikraError(f"cannot read the config file ({error.strerror or error})", file=path) from None
    try:
        data = tomllib.loads(text) if path.suffix == ".toml" else yaml.safe_load(text)
    except (tomllib.TOMLDecodeError, yaml.YAMLError) as error:
        kind = "TOML" if path.suffix == ".toml" else "YAML"
        raise LikraError(f"not a valid {kind} file ({' '.join(str(error).split())})", file=path) from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise LikraError("expected option: value pairs at the top level", file=path)
    return {str(key).replace("-", "_"): value for key, value in data.items()}


def use_config_file(ctx: typer.Context, param: Any, value: Path | None) -> Path | None:
    """The ``--config`` callback (eager: it runs before the other options are read)."""
    if value is None:
        return None
    data = read_config_file(value)
    known = option_names(ctx)
    for key in data:
        if key not in known:
            raise LikraError(
                f"not an option of `likra {ctx.info_name}`; options: {', '.join(known)}", file=value, field=key
            )
    ctx.default_map = {**(ctx.default_map or {}), **data}
    return value


_CONFIG = typer.Option(
    "--config",
    help="A YAML (or .toml) file of this command's options, as --print-config writes it; options given "
    "on the command line override it.",
    callback=use_config_file,
    is_eager=True,
    dir_okay=False,
)
_PRINT_CONFIG = typer.Option(
    "--print-config", help="Print the options this command would run with (as YAML) and exit without running."
)
# The two parameters every command with a config file declares last.
ConfigFile = Annotated[Optional[Path], _CONFIG]
PrintConfig = Annotated[bool, _PRINT_CONFIG]


def _plain(value: Any) -> Any:
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, (tuple, list)):
        return [_plain(v) for v in value]
    return value


def print_config(ctx: typer.Context, config: Any) -> None:
    """Print the command's options, those of its (resolved) config object taken from it, then exit."""
    resolved = option_values(config)
    values = {name: _plain(resolved.get(name, ctx.params.get(name))) for name in option_names(ctx)}
    typer.echo(yaml.safe_dump(values, sort_keys=False, allow_unicode=True), nl=False)
    raise typer.Exit()
