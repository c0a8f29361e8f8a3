"""Keeping freed memory in the process heap (glibc), so large activations do not page-fault on every step.

glibc serves every allocation above its mmap threshold (at most 32 MiB) with a fresh `mmap` and unmaps it on
free. A conv4 training step at 105x105 allocates activations of hundreds of MiB, so each step maps, zero-fills
(page fault by page fault) and unmaps gigabytes. With mmap disabled and trimming pushed out, freed blocks stay
in the heap and the next step reuses them without a single page fault.

The setting is process-wide and cannot be undone cleanly (glibc's adaptive mmap threshold stays off), so only
entry points call it (`siamkit train`, `siamkit demo`; the benchmark in a child process). The same
effect is available without code by starting Python with the environment variables
`MALLOC_MMAP_MAX_=0 MALLOC_TRIM_THRESHOLD_=2147483647`. The price is that the process keeps its peak memory
until it exits.
"""

from __future__ import annotations

import ctypes
import ctypes.util

# mallopt parameter numbers from glibc's malloc.h.
_M_TRIM_THRESHOLD = -1
_M_MMAP_MAX = -4
# mallopt takes a C int, so this is the largest trim threshold it accepts (2 GiB).
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


def keep_freed_memory_in_heap() -> bool:
    """Tells glibc to serve large allocations from the heap and never give freed memory back to the OS.

    Returns:
        True where it took effect; False on C libraries other than glibc, where nothing changes.
    """
    library = _glibc()
    if library is None:
        return False
    mmap_disabled = bool(library.mallopt(_M_MMAP_MAX, 0))
    trim_deferred = bool(library.mallopt(_M_TRIM_THRESHOLD, _LARGEST_TRIM_THRESHOLD))
    return mmap_disabled and trim_deferred
