"""Atomic writes and small JSON/JSONL helpers: a file that exists is a file that is complete.

In a multi-process job (``likra.distributed``) only the main process writes; the others compute
the same values and skip the write.

A file that cannot be read back (torn, truncated, edited by hand) raises ``DamagedFileError``
naming it, its line and what to do (``likra.layout.damage_hint``); an operating-system error of a
write (read-only, no space, not a folder) raises ``FileSystemError`` naming the file written.
"""

from __future__ import annotations

import glob
import json
import os
import re
import shutil
import tempfile
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from likra.distributed import is_main
from likra.errors import DamagedFileError, file_system_error
from likra.layout import damage_hint


def atomic_write_text(path: str | Path, text: str) -> None:
    """Write ``text`` to ``path`` via a temporary file in the same folder and an atomic rename.

    A temporary file of ``path`` that an interrupted write left behind (``.NAME.XXXX.tmp``) is
    removed first: a file is written by one process at a time (the folder's lock)."""
    if not is_main():
        return
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        remove_temporaries(path)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    except OSError as error:
        raise file_system_error(error, path) from error
    try:
        write_synced(fd, text)
        os.replace(tmp, path)
    except BaseException as error:
        Path(tmp).unlink(missing_ok=True)
        if isinstance(error, OSError):
            raise file_system_error(error, path) from error
        raise


def write_synced(fd: int, text: str) -> None:
    """Write ``text`` to the open file ``fd`` and ``fsync`` it (where a full disk shows)."""
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(text)
        handle.flush()
        os.fsync(handle.fileno())


def remove_temporaries(path: Path) -> None:
    """Delete the temporary files (``.NAME.XXXX.tmp``) that interrupted writes of ``path`` left."""
    for stale in path.parent.glob(f".{glob.escape(path.name)}.*.tmp"):
        stale.unlink(missing_ok=True)


def atomic_write_json(path: str | Path, data: Any) -> None:
    atomic_write_text(path, json.dumps(data, indent=2, sort_keys=False, allow_nan=True) + "\n")


def atomic_write_jsonl(path: str | Path, rows: Iterable[dict[str, Any]]) -> None:
    atomic_write_text(path, "".join(json.dumps(row) + "\n" for row in rows))


def read_json(path: str | Path) -> Any:
    """A JSON file that likra wrote; ``DamagedFileError`` (file, line, what to do) when it is
    empty, not UTF-8 or not valid JSON."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as error:
        raise damaged(path, f"not UTF-8 text at byte {error.start}") from None
    if not text.strip():
        raise damaged(path, "empty")
    try:
        return json.loads(text)
    except json.JSONDecodeError as error:
        raise damaged(path, json_problem(error), line=error.lineno) from None


def read_jsonl(path: str | Path) -> list[dict[str, Any]]:
    """The rows of a JSONL table that likra wrote (one JSON object a line); ``DamagedFileError``
    naming the first bad line when a line is torn or the file is empty (no table is)."""
    path = Path(path)
    rows = []
    with open(path, encoding="utf-8") as handle:
        try:
            for number, line in enumerate(handle, 1):
                if not line.strip():
                    continue
                try:
                    rows.append(json.loads(line))
                except json.JSONDecodeError as error:
                    raise damaged(path, json_problem(error), line=number) from None
        except UnicodeDecodeError as error:
            raise damaged(path, f"not UTF-8 text at byte {error.start} of a line") from None
    if not rows:
        raise damaged(path, "empty")
    return rows


def json_problem(error: json.JSONDecodeError) -> str:
    """``invalid JSON: Expecting ',' delimiter at column 288`` (the line is the error's own)."""
    at = "column" if error.msg.endswith(" at") else "at column"
    return f"invalid JSON: {error.msg} {at} {error.colno}"


def damaged(path: Path, problem: str, line: int | None = None) -> DamagedFileError:
    """The error for a file that cannot be read back, with what to do about a file of its name."""
    return DamagedFileError(path, problem, line=line, hint=damage_hint(path))


def read_log(path: str | Path) -> list[dict[str, Any]]:
    """The rows of an append-only log; a line torn by a kill mid-write is skipped."""
    rows = []
    for line in Path(path).read_text(encoding="utf-8").splitlines():
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    return rows


def append_jsonl(path: str | Path, row: dict[str, Any]) -> None:
    """Append one row to a log (append-only; read it back with :func:`read_log`)."""
    if not is_main():
        return
    try:
        with open(path, "a", encoding="utf-8") as handle:
            handle.write(json.dumps(row) + "\n")
            handle.flush()
    except OSError as error:
        raise file_system_error(error, path) from error


def atomic_write_folder(folder: Path, write: Callable[[Path], Any]) -> None:
    """Fill a temporary sibling folder with ``write(tmp)``, then swap it in for ``folder``.

    A kill between the two renames leaves ``.<name>.old``; :func:`recover_folder` finishes the swap.
    """
    if not is_main():
        return
    try:
        folder.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(dir=folder.parent, prefix=f".{folder.name}."))
    except OSError as error:
        raise file_system_error(error, folder) from error
    try:
        write(tmp)
        if folder.exists():
            old = folder.with_name(f".{folder.name}.old")
            shutil.rmtree(old, ignore_errors=True)
            folder.rename(old)
            tmp.rename(folder)
            shutil.rmtree(old, ignore_errors=True)
        else:
            tmp.rename(folder)
    except BaseException as error:
        shutil.rmtree(tmp, ignore_errors=True)
        refused = os_error_of(error)  # a full disk while a checkpoint is saved, ...
        if refused is not None:
            raise file_system_error(refused, folder) from error
        raise


def os_error_of(error: BaseException) -> OSError | None:
    """``error`` as an ``OSError``: itself, or the one a library reported in its own exception
    (safetensors: ``SafetensorError: ... I/O error: No space left on device (os error 28)``)."""
    if isinstance(error, OSError):
        return error
    found = re.search(r"\(os error (\d+)\)", str(error)) if type(error).__name__ == "SafetensorError" else None
    if found is None:
        return None
    number = int(found.group(1))
    return OSError(number, os.strerror(number))


def recover_folder(folder: Path) -> None:
    """Finish a swap that :func:`atomic_write_folder` began but a kill interrupted."""
    if not is_main():
        return
    old = folder.with_name(f".{folder.name}.old")
    if not folder.exists() and old.exists():
        old.rename(folder)
    for tmp in folder.parent.glob(f".{folder.name}.*"):
        if tmp.is_dir() and tmp != old:
            shutil.rmtree(tmp, ignore_errors=True)  # a half-written temporary folder
