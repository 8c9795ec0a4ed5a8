"""Freed heap memory goes back to the OS (glibc), so resident memory does not creep up with N."""

from __future__ import annotations

import pytest

from likra.job_progress import resident_mb
from likra.lm.allocator import _glibc, release_freed_memory

HAS_GLIBC = _glibc() is not None  # asked without trimming at collection time


@pytest.mark.skipif(not HAS_GLIBC or resident_mb() is None, reason="needs glibc's malloc_trim and /proc")
def test_release_returns_the_free_holes_between_live_blocks():
    # 40 MB of 100 kB blocks (each below glibc's mmap threshold, so on the heap), then one block
    # above them that stays live: freeing the 400 leaves a hole that free() itself never returns.
    blocks = [b"x" * 100_000 for _ in range(400)]
    pin = b"y" * 100_000
    del blocks
    held = resident_mb()
    assert release_freed_memory()
    released = held - resident_mb()
    assert released > 20, f"only {released:.1f} MB of a 40 MB hole went back to the OS"
    assert pin[:1] == b"y"
