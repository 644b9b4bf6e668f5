"""Keep freed memory in the C heap (glibc), so CPU training stops paying for fresh pages every step.

A training step allocates and frees the same large buffers every step (activations, gradients).
With glibc's defaults, blocks above its mmap threshold get fresh ``mmap`` pages and the heap's free
top is given back to the system, so every step faults its working set in again: measured on a
2-core EPYC (FCN8s, 64 px, batch 16, float32), about 100 000 page faults per step. With mmap and
trimming off, the same step faulted under 1 000 pages, its peak memory 50 MB higher, and the
training step of ``fit`` ran 1.08x and 1.22x faster in two rounds of ``scripts/bench_cpu_heap.sh``.
The process keeps its peak heap until it exits.
"""
from __future__ import annotations

import ctypes
import os
import platform

#: set this environment variable (to anything) to keep glibc's defaults, e.g. for an A/B measurement
OPT_OUT_VARIABLE = "HW_GLIBC_MALLOC_DEFAULTS"

_M_TRIM_THRESHOLD = -1  # mallopt parameters, from glibc's malloc.h
_M_MMAP_MAX = -4


def retain_freed_memory() -> bool:
    """Tell glibc's malloc to serve every block from the heap and never trim it (process-wide, idempotent).

    Returns True when the setting took effect; False with another C library, or where
    ``$HW_GLIBC_MALLOC_DEFAULTS`` is set.
    """
    if os.environ.get(OPT_OUT_VARIABLE) or platform.libc_ver()[0] != "glibc":
        return False
    mallopt = ctypes.CDLL(None).mallopt
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    return mallopt(_M_MMAP_MAX, 0) == 1 and mallopt(_M_TRIM_THRESHOLD, 2**31 - 1) == 1
