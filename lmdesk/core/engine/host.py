"""Facts about this computer that loading depends on: memory in use.

The CPU thread counts are `lmdesk.core.cpu_threads`'s.

Whether llama.cpp may use its extra CPU weight layouts is decided in
`lmdesk.core.estimate.cpu_buffers.extra_buffers_allowed`, so the estimate and
the engine agree.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import gc
import sys

import psutil


def process_rss() -> int:
    """This process's resident memory, in bytes."""
    return int(psutil.Process().memory_info().rss)


def release_freed_memory() -> None:
    """Collect garbage and hand freed heap pages back to the OS, so RSS shows the drop."""
    gc.collect()
    if sys.platform.startswith("linux"):
        try:
            libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
            libc.malloc_trim(0)
        except (OSError, AttributeError):  # not glibc (musl has no malloc_trim)
            pass
