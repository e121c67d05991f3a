"""How many malloc arenas glibc may create in this process (APP_MALLOC_ARENAS).

glibc gives each thread that allocates its own arena, up to eight per core, and an arena keeps the memory it
once held. The app's threads (the database, embedding and tool workers, ONNX Runtime's pool) each grew one
under load: 100 chats left the process at ~1.16 GB; with two arenas, ~0.9 GB at the same turns per second
(bench/bench_load.py). Same as the MALLOC_ARENA_MAX environment variable, but from our settings, and for the
arenas made after the call: call it before the worker threads start.
"""

from __future__ import annotations

import ctypes
import logging

M_ARENA_MAX = -8  # glibc's <malloc.h>
log = logging.getLogger(__name__)


def limit_malloc_arenas(arenas: int) -> bool:
    """True when the C library took the limit; 0 leaves its default."""
    if arenas <= 0:
        return False
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):  # no mallopt (not glibc): nothing to tune
        log.info("this C library has no mallopt: malloc arenas left as they are")
        return False
    return bool(mallopt(M_ARENA_MAX, arenas))
