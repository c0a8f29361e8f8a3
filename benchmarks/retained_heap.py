"""Keeping freed memory in the process heap (glibc), so large activations do not page-fault on every step.

glibc serves every allocation above its mmap threshold (at most 32 MiB) with a fresh `mmap` and unmaps it on
free. A conv4 training step at 105x105 allocates activations of hundreds of MiB, so each step maps, zero-fills
(page fault by page fault) and unmaps gigabytes. With mmap disabled and trimming pushed out, freed blocks
stay in the heap and are reused by the next step without any page fault.

The same effect is available without code by starting Python with the environment variables
`MALLOC_MMAP_MAX_=0 MALLOC_TRIM_THRESHOLD_=2147483647`.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
from collections.abc import Iterator

# mallopt parameter numbers from glibc's malloc.h.
_M_TRIM_THRESHOLD = -1
_M_MMAP_MAX = -4
# glibc defaults, restored on exit (restoring cannot bring back the dynamic mmap threshold; see below).
_DEFAULT_TRIM_THRESHOLD = 128 * 1024
_DEFAULT_MMAP_MAX = 65536
# mallopt takes a C int, so this is the largest trim threshold it accepts.
_LARGEST_TRIM_THRESHOLD = 2**31 - 1


def _glibc() -> ctypes.CDLL | None:
    name = ctypes.util.find_library("c")
    if name is None:
        return None
    try:
        library = ctypes.CDLL(name)
    except OSError:
        return None
    return library if hasattr(library, "mallopt") else None


def retained_heap_available() -> bool:
    """True where the C library is glibc (it has `mallopt`), i.e. where `retained_heap` has an effect."""
    return _glibc() is not None


@contextlib.contextmanager
def retained_heap() -> Iterator[bool]:
    """Within the block, large allocations come from the heap and freed memory is not returned to the OS.

    Yields whether the setting took effect (False on non-glibc systems, where the block runs unchanged).
    On exit the glibc defaults are set again and the retained memory is released with `malloc_trim`; glibc's
    adaptive mmap threshold stays off for the rest of the process, so measure this last.
    """
    library = _glibc()
    if library is None:
        yield False
        return
    mmap_disabled = bool(library.mallopt(_M_MMAP_MAX, 0))
    trim_deferred = bool(library.mallopt(_M_TRIM_THRESHOLD, _LARGEST_TRIM_THRESHOLD))
    applied = mmap_disabled and trim_deferred
    try:
        yield applied
    finally:
        library.mallopt(_M_MMAP_MAX, _DEFAULT_MMAP_MAX)
        library.mallopt(_M_TRIM_THRESHOLD, _DEFAULT_TRIM_THRESHOLD)
        library.malloc_trim(0)
