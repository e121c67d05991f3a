"""Start a real Chroma server with the `chroma` CLI that ships with chromadb (a helper, not a test module).

Only the standard library is used here, so a failure to start says something about Chroma or the
environment, not about this helper. The server runs in its own process group on a free loopback port,
persists into a private temporary folder and logs to a file whose tail goes into failure messages.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import require
from tests.processes import OFFLINE_ENV, free_port, log_tail, stop

CHROMA = Path(sys.executable).parent / "chroma"
STARTUP_TIMEOUT_S = 60.0
HEARTBEAT = "/api/v2/heartbeat"  # answers {"nanosecond heartbeat": <int>}; /api/v1/* answers 410 Gone in chromadb 1.x



@dataclass
class ChromaServer:
    url: str
    port: int
    data_dir: Path
    log_path: Path
    process: subprocess.Popen

    def log_tail(self, lines: int = 40) -> str:
        """The end of the server's combined stdout/stderr, for assertion messages."""
        return log_tail(self.log_path, lines)

    def alive(self) -> bool:
        return self.process.poll() is None and _heartbeat(self.url)


class ChromaStartError(RuntimeError):
    pass


def _heartbeat(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}{HEARTBEAT}", timeout=2.0) as response:
            if response.status != 200:
                return False
            body = json.loads(response.read().decode("utf-8", errors="replace"))
    except (OSError, urllib.error.URLError, ValueError):
        return False
    return isinstance(body, dict) and "nanosecond heartbeat" in body


@contextlib.contextmanager
def run_chroma(workdir: Path, timeout: float = STARTUP_TIMEOUT_S) -> Iterator[ChromaServer]:
    """Run `chroma run --path <workdir>/data --host 127.0.0.1 --port <free>` until the block exits.

    Raises `ChromaStartError` (with the log tail) when the binary is missing or the heartbeat never answers.
    """
    if not CHROMA.exists():
        raise ChromaStartError(f"chroma executable not found at {CHROMA}")
    workdir.mkdir(parents=True, exist_ok=True)
    data_dir = workdir / "data"
    log_path = workdir / "chroma.log"
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    command = [str(CHROMA), "run", "--path", str(data_dir), "--host", "127.0.0.1", "--port", str(port)]
    env = dict(os.environ) | OFFLINE_ENV
    with open(log_path, "wb") as log_file:
        process = subprocess.Popen(
            command,
            cwd=workdir,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    server = ChromaServer(url, port, data_dir, log_path, process)
    try:
        deadline = time.monotonic() + timeout
        while not _heartbeat(url):
            if process.poll() is not None:
                raise ChromaStartError(
                    f"chroma exited with code {process.returncode} before answering {HEARTBEAT}\n{server.log_tail()}"
                )
            if time.monotonic() > deadline:
                raise ChromaStartError(
                    f"chroma did not answer {url}{HEARTBEAT} within {timeout:.0f} s\n{server.log_tail()}"
                )
            time.sleep(0.2)
        yield server
    finally:
        stop(process, signal.SIGTERM)


@pytest.fixture(scope="session")
def chroma_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ChromaServer]:
    """One real Chroma server per test session. Skipped locally, failed under CI, when it cannot start."""
    workdir = tmp_path_factory.mktemp("chroma-server")
    with contextlib.ExitStack() as stack:
        try:
            server = stack.enter_context(run_chroma(workdir))
        except ChromaStartError as exc:
            require(False, str(exc))
            raise  # unreachable: require() skips or fails
        yield server
