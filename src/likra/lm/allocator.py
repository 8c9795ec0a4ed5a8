"""Give the heap memory that tensors freed back to the operating system (glibc's ``malloc_trim``).

PyTorch's CPU tensors come from ``malloc``. Training allocates activations of a different size at
almost every step, and glibc keeps freed blocks mapped for reuse; the holes between live blocks
are not handed back, so resident memory crept up with N (1.9 GB at N <= 64 to 3.1 GB at
N <= 2048, ``docs/notes/memory_vs_n_malloc_trim_intel-amx_2026-11-30.json``) while live memory did not.
``malloc_trim(0)`` returns every whole free page; after each training step it costs ~40 ms.
No library wraps it, hence ctypes.

Within a step, trimming comes too late: glibc raises its mmap threshold to the size of every
mapped block it frees (up to 32 MiB), so from the first step on a step's activations of a few MiB
come from the heap, and blocks freed mid-step sit there beside live ones until the step's trim.
``large_blocks_mapped`` fixes the threshold at 4 MiB while a run trains, so such blocks are mapped
on their own and go back to the OS when freed. Not while scoring: each mapped block costs fresh
page faults, and scoring, with its 4,096-token batches, slowed by a third (docs/performance.md).
"""

from __future__ import annotations

import contextlib
import ctypes
import functools
import os
import sys
from collections.abc import Iterator
from typing import Any

M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3  # mallopt's parameter numbers (glibc's malloc.h)
# Blocks of at least this many bytes get their own mapping while training: on HellaSwag's training
# steps 4 MiB kept the peak as low as 1 MiB did, 8 MiB did not lower it (docs/performance.md).
HEAP_BLOCK_LIMIT = 4 * 2**20
# Where glibc's moving threshold ends (DEFAULT_MMAP_THRESHOLD_MAX on 64-bit), with the trim
# threshold it moves along (twice that): scoring frees blocks that large, so outside training this
# is where they would stand anyway.
GLIBC_THRESHOLD_MAX = 32 * 2**20
# glibc's own variable for the same threshold: a user who sets it has chosen, likra leaves it be.
THRESHOLD_VARIABLE = "MALLOC_MMAP_THRESHOLD_"


@functools.cache
def _glibc() -> Any | None:
    """glibc, or None where the C library is another one (macOS, Windows, musl: no malloc_trim)."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:
        return None
    return libc if hasattr(libc, "malloc_trim") else None


def release_freed_memory() -> bool:
    """Return freed heap pages to the OS; False where the C library cannot (then it does nothing)."""
    libc = _glibc()
    if libc is None:
        return False
    libc.malloc_trim(0)
    return True


@contextlib.contextmanager
def large_blocks_mapped(limit: int = HEAP_BLOCK_LIMIT) -> Iterator[bool]:
    """Within: every block of ``limit`` bytes or more gets its own mapping and goes back to the OS as
    soon as it is freed; after: glibc's largest threshold. Yields False, changing nothing, where the
    C library cannot or ``MALLOC_MMAP_THRESHOLD_`` is set (the user's choice wins)."""
    libc = _glibc()
    if libc is None or THRESHOLD_VARIABLE in os.environ:
        yield False
        return
    libc.mallopt(M_MMAP_THRESHOLD, limit)
    try:
        yield True
    finally:
        libc.mallopt(M_MMAP_THRESHOLD, GLIBC_THRESHOLD_MAX)
        libc.mallopt(M_TRIM_THRESHOLD, 2 * GLIBC_THRESHOLD_MAX)
