"""One exception type for every user-facing error, so the CLI can print it cleanly and exit 2."""

from __future__ import annotations

import difflib
from pathlib import Path


class LikraError(Exception):
    """A problem with the user's input or settings, described so the user can fix it.

    The message names the file, the line (1-based, for JSONL) and the field when they are known.
    """

    def __init__(
        self,
        message: str,
        *,
        file: str | Path | None = None,
        line: int | None = None,
        field: str | None = None,
    ) -> None:
        self.file = str(file) if file is not None else None
        self.line = line
        self.field = field
        self.reason = message
        where = ""
        if self.file is not None:
            where = self.file + (f":{line}" if line is not None else "")
        if field is not None:
            where = f"{where} field '{field}'" if where else f"field '{field}'"
        super().__init__(f"{where}: {message}" if where else message)


def unknown_name(kind: str, name: str, valid: list[str] | tuple[str, ...]) -> LikraError:
    """An error for an unknown task/split/mode/strategy name that suggests the closest valid one."""
    close = difflib.get_close_matches(name, list(valid), n=1, cutoff=0.5)
    hint = f" Did you mean '{close[0]}'?" if close else ""
    names = sorted(valid)
    shown = ", ".join(names[:15]) + (f", ... ({len(names) - 15} more)" if len(names) > 15 else "")
    return LikraError(f"unknown {kind} '{name}'.{hint} Valid: {shown}.")
