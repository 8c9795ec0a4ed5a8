"""Atomic writes and small JSON/JSONL helpers: a file that exists is a file that is complete.

In a multi-process job (``likra.distributed``) only the main process writes; the others compute
the same values and skip the write.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from likra.distributed import is_main


def atomic_write_text(path: str | Path, text: str) -> None:
    """Write ``text`` to ``path`` via a temporary file in the same folder and an atomic rename."""
    if not is_main():
        return
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_json(path: str | Path, data: Any) -> None:
    atomic_write_text(path, json.dumps(data, indent=2, sort_keys=False, allow_nan=True) + "\n")


def atomic_write_jsonl(path: str | Path, rows: Iterable[dict[str, Any]]) -> None:
    atomic_write_text(path, "".join(json.dumps(row) + "\n" for row in rows))


def read_json(path: str | Path) -> Any:
    with open(path, encoding="utf-8") as handle:
        return json.load(handle)


def read_jsonl(path: str | Path) -> list[dict[str, Any]]:
    with open(path, encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]


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
    with open(path, "a", encoding="utf-8") as handle:
        handle.write(json.dumps(row) + "\n")
        handle.flush()


def atomic_write_folder(folder: Path, write: Callable[[Path], Any]) -> None:
    """Fill a temporary sibling folder with ``write(tmp)``, then swap it in for ``folder``.

    A kill between the two renames leaves ``.<name>.old``; :func:`recover_folder` finishes the swap.
    """
    if not is_main():
        return
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=folder.parent, prefix=f".{folder.name}."))
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
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


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
