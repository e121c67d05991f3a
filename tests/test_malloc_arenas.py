"""APP_MALLOC_ARENAS: threads that allocate share the limited arenas instead of each making its own. Counted from
glibc's own report (malloc_info), in a fresh process, since arenas outlive the threads that made them."""

from __future__ import annotations

import platform
import subprocess
import sys

import pytest

from tests.conftest import ROOT

SCRIPT = """
import ctypes, os, re, sys, tempfile, threading
from agent.malloc_arenas import limit_malloc_arenas

took = limit_malloc_arenas(int(sys.argv[1]))
start = threading.Barrier(8)

def allocate():
    start.wait()  # all at once: eight threads allocating together
    blocks = [bytearray(4096) for _ in range(2000)]  # above pymalloc's 512 bytes: these come from malloc
    del blocks

threads = [threading.Thread(target=allocate) for _ in range(8)]
for t in threads: t.start()
for t in threads: t.join()
libc = ctypes.CDLL(None)
libc.fopen.restype = ctypes.c_void_p
handle, path = tempfile.mkstemp()
os.close(handle)
stream = libc.fopen(path.encode(), b"w")
libc.malloc_info(0, ctypes.c_void_p(stream))
libc.fclose(ctypes.c_void_p(stream))
print(took, len(re.findall(r"<heap nr=", open(path).read())))
os.unlink(path)
"""


def arenas(limit: int) -> tuple[str, int]:
    result = subprocess.run([sys.executable, "-c", SCRIPT, str(limit)], cwd=ROOT, capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    took, count = result.stdout.split()
    return took, int(count)


def test_threads_share_the_limited_arenas():
    if platform.libc_ver()[0] != "glibc":
        pytest.skip("malloc arenas and malloc_info are glibc's; this C library has neither to limit or count")
    assert arenas(2) == ("True", 2)
    took, unlimited = arenas(0)
    assert took == "False" and unlimited > 2, f"{unlimited} arenas without a limit: the test shows nothing"
