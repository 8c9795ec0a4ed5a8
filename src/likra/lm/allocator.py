"""Give the heap memory that tensors freed back to the operating system (glibc's ``malloc_trim``).

PyTorch's CPU tensors come from ``malloc``. Training allocates activations of a different size at
almost every step, and glibc keeps freed blocks mapped for reuse; the holes between live blocks
are not handed back, so resident memory crept up with N (1.9 GB at N <= 64 to 3.1 GB at
N <= 2048, ``docs/notes/memory_vs_n_malloc_trim_intel-amx_2026-11-30.json``) while live memory did not.
``malloc_trim(0)`` returns every whole free page; after each training step it costs ~40 ms.
No library wraps it, hence ctypes.
"""

from __future__ import annotations

import ctypes
import functools
import sys
from typing import Any


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
