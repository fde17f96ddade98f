"""How the exporter asks glibc's allocator to give memory back (standard library only)."""

from __future__ import annotations

import ctypes
import os

# glibc malloc settings (mallopt parameters of <malloc.h>), each with the
# environment variable that, when set, wins over it.
MALLOC_SETTINGS = (
    ("MALLOC_ARENA_MAX", -8, 2),  # M_ARENA_MAX
    ("MALLOC_MMAP_THRESHOLD_", -3, 128 * 1024),  # M_MMAP_THRESHOLD
    ("MALLOC_TRIM_THRESHOLD_", -1, 128 * 1024),  # M_TRIM_THRESHOLD
)


def tune_malloc() -> list[str]:
    """Keep glibc malloc from holding memory the exporter no longer uses; what was set.

    By default glibc gives every thread that allocates an arena of its own
    (up to 8 per CPU) and keeps freed memory in each, and after a large block
    is freed it raises its mmap and trim thresholds (up to 32 and 64 MiB), so
    later large blocks are carved from the arenas and stay there. The five
    refresh threads and the HTTP threads each render or join large buffers
    now and then: at 10,000 sites that was about 10 MiB of freed memory kept.
    Two arenas and fixed 128 KiB thresholds return large blocks to the
    system when freed, for a few page faults per scrape. Then the memory
    loading the configuration left free is returned (malloc_trim). Nothing is
    done off glibc, and a MALLOC_* variable set in the environment wins.
    """
    try:
        libc = ctypes.CDLL(None)
        mallopt, malloc_trim = libc.mallopt, libc.malloc_trim
    except (OSError, AttributeError):  # not glibc (musl has neither)
        return []
    done = [name for name, parameter, value in MALLOC_SETTINGS
            if name not in os.environ and mallopt(parameter, value) == 1]
    malloc_trim(0)
    return done
