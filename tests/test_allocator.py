"""Freed heap memory goes back to the OS (glibc), so resident memory does not creep up with N."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from likra.job_progress import resident_mb
from likra.lm.allocator import THRESHOLD_VARIABLE, _glibc, large_blocks_mapped, release_freed_memory

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


# A fresh process: an 8 MB block, then a 6 MB block, each touched and freed, inside or after
# ``large_blocks_mapped`` or without it. Prints the resident memory they left behind, in MiB.
AFTER_A_FREED_BLOCK = """
import ctypes, sys
from likra.job_progress import resident_mb as resident
from likra.lm.allocator import large_blocks_mapped
libc = ctypes.CDLL("libc.so.6")
libc.malloc.restype = ctypes.c_void_p
def kept():
    before = resident()
    first = libc.malloc(8_000_000)
    ctypes.memset(first, 1, 8_000_000)
    libc.free(ctypes.c_void_p(first))
    block = libc.malloc(6_000_000)
    ctypes.memset(block, 1, 6_000_000)
    libc.free(ctypes.c_void_p(block))
    return resident() - before
if sys.argv[1] == "default":
    print(kept())
else:
    with large_blocks_mapped() as mapped:
        assert mapped
        inside = kept()
    print(inside if sys.argv[1] == "inside" else kept())
"""


def _kept_mb(mode: str) -> float:
    env = {k: v for k, v in os.environ.items() if k != THRESHOLD_VARIABLE}
    done = subprocess.run(
        [sys.executable, "-c", AFTER_A_FREED_BLOCK, mode], env=env, capture_output=True, text=True, check=True
    )
    return float(done.stdout)


@pytest.mark.skipif(not HAS_GLIBC or resident_mb() is None, reason="needs glibc's mallopt and /proc")
def test_large_blocks_go_back_to_the_os_as_soon_as_they_are_freed_while_training():
    # glibc maps the 8 MB block, then raises its threshold to 8 MB and keeps the freed 6 MB on the
    # heap (what made a training step's peak)...
    assert _kept_mb("default") > 5
    # ...a fixed 4 MiB threshold maps it on its own, and free() unmaps it...
    assert _kept_mb("inside") < 1
    # ...and afterwards blocks below 32 MiB come from the heap again and stay (mapping and unmapping
    # them slows scoring).
    assert _kept_mb("after") > 5


def test_a_users_own_threshold_is_left_alone(monkeypatch):
    monkeypatch.setenv(THRESHOLD_VARIABLE, "1048576")
    with large_blocks_mapped() as mapped:
        assert not mapped
