"""Keeping freed feature maps in the process heap, so CPU inference stops page-faulting.

PyTorch's CPU allocator hands every tensor straight to malloc and frees it as soon as the
next layer is done with it. glibc gives large freed blocks back to the kernel (blocks over
its mmap threshold are unmapped; a large free top of heap is trimmed), so every forward call
faults each page of its multi-megabyte feature maps in again: on the main thread, ~67,000
minor faults and ~20% of the frame time at 320x180 (bench/RESULTS.md). Serving every block
from the heap (no mmap; glibc would cap the mmap threshold at 32 MiB, under a 1280x720 map)
and trimming it only past 1 GiB keeps those blocks for the next call: resident memory stays
at the peak one call needs. The setting is process-wide, so it is made once, when a network
is placed on the CPU. A no-op off glibc.
"""

import ctypes
import logging
from functools import lru_cache

log = logging.getLogger(__name__)

M_TRIM_THRESHOLD = -1
M_MMAP_MAX = -4
TRIM_THRESHOLD = 1 << 30


@lru_cache(maxsize=1)
def keep_freed_memory_in_heap() -> bool:
    """Whether the C library took both settings (False off glibc)."""
    try:
        mallopt = ctypes.CDLL("libc.so.6").mallopt
    except (OSError, AttributeError):
        log.info("event=cpu_heap_tuning_skipped reason=no_glibc_mallopt")
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    took = mallopt(M_MMAP_MAX, 0) == 1 and mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD) == 1
    log.info("event=cpu_heap_tuning applied=%s mmap=off trim_threshold=%d", took, TRIM_THRESHOLD)
    return took
