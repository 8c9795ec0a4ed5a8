"""One exception type for every user-facing error, so the CLI can print it in one line.

``LikraError`` (bad input or settings, a damaged file) exits 2; its subclass ``FileSystemError``
(the operating system refused: read-only, no space, not a folder) exits 74, ``EX_IOERR`` of
sysexits.h. ``warn`` prints the one-line warnings (``warning: ...``) of problems likra repairs
itself, such as a damaged score table that it computes again.
"""

from __future__ import annotations

import difflib
import errno
import sys
from pathlib import Path


class LikraError(Exception):
    """A problem with the user's input or settings, described so the user can fix it.

    The message names the file, the line (1-based, for JSONL) and the field when they are known.
    """

    exit_code = 2

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


def unknown_name(kind: str, name: str, valid: list[str] | tuple[str, ...], field: str | None = None) -> LikraError:
    """An error for an unknown task/split/mode/strategy name that suggests the closest valid one."""
    close = difflib.get_close_matches(name, list(valid), n=1, cutoff=0.5)
    hint = f" Did you mean '{close[0]}'?" if close else ""
    names = sorted(valid)
    shown = ", ".join(names[:15]) + (f", ... ({len(names) - 15} more)" if len(names) > 15 else "")
    return LikraError(f"unknown {kind} '{name}'.{hint} Valid: {shown}.", field=field)


class DamagedFileError(LikraError):
    """A file that likra wrote cannot be read back (torn, truncated or edited): the message names
    it, says what is wrong and, when known, what to do (``likra.layout.damage_hint``)."""

    def __init__(self, path: str | Path, problem: str, *, line: int | None = None, hint: str | None = None):
        self.problem, self.hint = problem, hint
        super().__init__(f"damaged file ({problem})" + (f": {hint}" if hint else ""), file=path, line=line)

    @property
    def where(self) -> str:
        """``FILE`` or ``FILE:LINE``."""
        return f"{self.file}:{self.line}" if self.line is not None else str(self.file)

    def with_hint(self, hint: str) -> DamagedFileError:
        """The same error with another ``hint`` (a caller that knows more about the file)."""
        return DamagedFileError(self.file or "", self.problem, line=self.line, hint=hint)


# What to do when the operating system refuses, by errno.
_OS_HINTS = {
    errno.ENOSPC: "free some space and re-run the same command (finished work is kept)",
    errno.EDQUOT: "free some space (disk quota exceeded) and re-run the same command (finished work is kept)",
    errno.EROFS: "use a folder on a writable disk",
    errno.EACCES: "check its permissions, or use a folder you can write to",
    errno.EPERM: "check its permissions, or use a folder you can write to",
    errno.ENOTDIR: "a part of this path is a file, not a folder; choose another path",
    errno.EEXIST: "a file of this name is in the way; choose another path",
    errno.EISDIR: "a folder is in the way where a file is expected; choose another path",
    errno.ENAMETOOLONG: "choose a shorter path",
}
FILE_SYSTEM_ERRNOS = frozenset(_OS_HINTS) | {errno.ENOENT, errno.EIO, errno.EMFILE, errno.ENFILE}


class FileSystemError(LikraError, OSError):
    """The operating system refused a read or write (read-only, no space, not a folder): one line
    ``PATH: <strerror>; <what to do>``, exit 74. It is an ``OSError`` too, for callers that catch
    those."""

    exit_code = 74

    def __init__(self, error: OSError, path: str | Path | None = None):
        where = _blocking_file(Path(path)) if error.errno == errno.ENOTDIR and path is not None else None
        strerror = error.strerror or str(error)
        hint = _OS_HINTS.get(error.errno or 0)
        if where is not None:
            strerror, hint = f"{strerror}: {where} is a file", "choose another path"
        LikraError.__init__(self, strerror + (f"; {hint}" if hint else ""), file=path)
        self.errno, self.strerror, self.filename = error.errno, strerror, str(path) if path is not None else None

    def __str__(self) -> str:
        return str(self.args[0])  # the one line, not OSError's "[Errno N] ..." form


def file_system_error(error: OSError, path: str | Path | None = None) -> FileSystemError:
    """``error`` as a one-line ``FileSystemError`` naming ``path`` (default: the error's own file)."""
    if isinstance(error, FileSystemError):
        return error
    return FileSystemError(error, path if path is not None else error.filename)


def _blocking_file(path: Path) -> Path | None:
    """The existing file among ``path``'s parents (``somefile`` in ``somefile/run``), if any."""
    for parent in path.parents:
        if parent.exists():
            return parent if not parent.is_dir() else None
    return None


def warn(message: str) -> None:
    """One ``warning: ...`` line on stderr (from the main process only, in a multi-process job)."""
    from likra import distributed

    if distributed.is_main():
        print(f"warning: {message}", file=sys.stderr, flush=True)
