"""Keeping freed feature maps in the process heap, so CPU inference stops page-faulting.

PyTorch's CPU allocator hands every tensor straight to malloc and frees it as soon as the
next layer is done with it. glibc gives large freed blocks back to the kernel (blocks over
its mmap threshold are unmapped; a large free top of heap is trimmed), so every forward call
faults each page of its multi-megabyte feature maps in again: on the main thread, ~67,000
minor faults and ~20% of the frame time at 320x180 (bench/RESULTS.md). Raising the mmap
threshold to glibc's ceiling and the trim threshold far above it keeps those blocks for the
next call; resident memory stays at the peak one call needs. The setting is process-wide,
so it is made once, when a network is placed on the CPU. A no-op off glibc.
"""

import ctypes
import logging
from functools import lru_cache

log = logging.getLogger(__name__)

M_TRIM_THRESHOLD = -1
M_MMAP_THRESHOLD = -3
# glibc refuses an mmap threshold above HEAP_MAX_SIZE / 2: 32 MiB on 64-bit. A 640x368
# bfloat16 map of 64 channels (29 MiB) is under it; larger maps are tiled (torch_backend).
MMAP_THRESHOLD = 32 * 1024 * 1024
TRIM_THRESHOLD = 1 << 30


@lru_cache(maxsize=1)
def keep_freed_memory_in_heap() -> bool:
    """Whether the C library took both settings (False off glibc)."""
    try:
        mallopt = ctypes.CDLL("libc.so.6").mallopt
    except (OSError, AttributeError):
        log.info("cpu heap tuning skipped reason=no-glibc-mallopt")
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    took = (
        mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD) == 1
        and mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD) == 1
    )
    log.info(
        "cpu heap tuning applied=%s mmap_threshold=%d trim_threshold=%d",
        took, MMAP_THRESHOLD, TRIM_THRESHOLD,
    )  # fmt: skip
    return took
