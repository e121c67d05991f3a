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
import socket
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

CHROMA = Path(sys.executable).parent / "chroma"
STARTUP_TIMEOUT_S = 60.0
HEARTBEAT = "/api/v2/heartbeat"  # answers {"nanosecond heartbeat": <int>}; /api/v1/* answers 410 Gone in chromadb 1.x

OFFLINE_ENV = {
    "ANONYMIZED_TELEMETRY": "False",
    "DO_NOT_TRACK": "1",
    "HF_HUB_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1",
    "NO_COLOR": "1",
}


@dataclass
class ChromaServer:
    url: str
    port: int
    data_dir: Path
    log_path: Path
    process: subprocess.Popen

    def log_tail(self, lines: int = 40) -> str:
        """The end of the server's combined stdout/stderr, for assertion messages."""
        return _log_tail(self.log_path, lines)

    def alive(self) -> bool:
        return self.process.poll() is None and _heartbeat(self.url)


class ChromaStartError(RuntimeError):
    pass


def _log_tail(log_path: Path, lines: int = 40) -> str:
    try:
        text = log_path.read_text(encoding="utf-8", errors="replace")
    except OSError as exc:
        return f"<no server log: {exc}>"
    tail = "\n".join(text.splitlines()[-lines:])
    return f"--- last {lines} lines of {log_path} ---\n{tail}"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _heartbeat(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}{HEARTBEAT}", timeout=2.0) as response:
            if response.status != 200:
                return False
            body = json.loads(response.read().decode("utf-8", errors="replace"))
    except (OSError, urllib.error.URLError, ValueError):
        return False
    return isinstance(body, dict) and "nanosecond heartbeat" in body


def _stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        for sig, grace in ((signal.SIGTERM, 10.0), (signal.SIGKILL, 5.0)):
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(process.pid, sig)  # the group is the server's own (start_new_session=True)
            try:
                process.wait(timeout=grace)
                break
            except subprocess.TimeoutExpired:
                continue
    # Reap anything left in the group.
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)


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
        _stop(process)


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
