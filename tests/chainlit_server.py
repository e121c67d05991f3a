"""Start a real `chainlit run app.py` for the server and browser tests (a helper, not a test module).

Only the standard library is used here, so a failure to start says something about the app, not the helper.
The server gets its own process group, a private knowledge store and an offline environment: no LLM_*
variables, so the offline answer engine answers, and no model download is ever attempted.
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

ROOT = Path(__file__).resolve().parent.parent
CHAINLIT = Path(sys.executable).parent / "chainlit"
STARTUP_TIMEOUT_S = 120.0

# Settings groups read by agent.settings: the server must see documented defaults, not the developer's shell.
SETTING_PREFIXES = ("APP_", "LLM_", "KNOWLEDGE_", "OFFLINE_", "SESSION_", "CHAT_", "TOOLS_")
OFFLINE_ENV = {
    "HF_HUB_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1",
    "DO_NOT_TRACK": "1",
    "SCARF_NO_ANALYTICS": "1",
    "ANONYMIZED_TELEMETRY": "False",
    "PYTHONUNBUFFERED": "1",
}


@dataclass
class ChainlitServer:
    base_url: str
    port: int
    log_path: Path
    store_dir: Path
    process: subprocess.Popen

    def log_tail(self, lines: int = 60) -> str:
        """The end of the server's combined stdout/stderr, for assertion messages."""
        try:
            text = self.log_path.read_text(encoding="utf-8", errors="replace")
        except OSError as exc:
            return f"<no server log: {exc}>"
        tail = "\n".join(text.splitlines()[-lines:])
        return f"--- last {lines} lines of {self.log_path} ---\n{tail}"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def server_env(store_dir: Path) -> dict[str, str]:
    env = {name: value for name, value in os.environ.items() if not name.startswith(SETTING_PREFIXES)}
    env.update(OFFLINE_ENV)
    env["KNOWLEDGE_STORE_DIR"] = str(store_dir)
    # An explicit empty value also beats an LLM_MODEL that a developer's ./.env might set.
    env["LLM_MODEL"] = ""
    return env


def http_get(url: str, timeout: float = 10.0) -> tuple[int, dict[str, str], str]:
    """GET a loopback URL; returns status, headers and body text (errors included, not raised)."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return response.status, dict(response.headers), response.read().decode("utf-8", errors="replace")
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers), exc.read().decode("utf-8", errors="replace")


def _healthy(base_url: str) -> bool:
    try:
        status, _, body = http_get(f"{base_url}/health", timeout=2.0)
    except (OSError, urllib.error.URLError):
        return False
    if status != 200:
        return False
    try:
        return json.loads(body) == {"status": "ok"}
    except ValueError:
        return False


def _stop(process: subprocess.Popen) -> None:
    if process.poll() is not None:
        return
    for sig, grace in ((signal.SIGINT, 10.0), (signal.SIGTERM, 5.0), (signal.SIGKILL, 5.0)):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(process.pid, sig)  # the group is the server's own (start_new_session=True)
        try:
            process.wait(timeout=grace)
            break
        except subprocess.TimeoutExpired:
            continue
    # Reap anything left in the group (e.g. a worker that ignored the signals).
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)


@contextlib.contextmanager
def run_chainlit(workdir: Path, timeout: float = STARTUP_TIMEOUT_S) -> Iterator[ChainlitServer]:
    """Run `chainlit run app.py --headless` on a free loopback port until the block exits.

    `workdir` receives the knowledge store (`chroma/`) and the server log (`chainlit.log`).
    """
    if not CHAINLIT.exists():
        raise RuntimeError(f"chainlit executable not found at {CHAINLIT}")
    workdir.mkdir(parents=True, exist_ok=True)
    store_dir = workdir / "chroma"
    log_path = workdir / "chainlit.log"
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    command = [str(CHAINLIT), "run", "app.py", "--headless", "--port", str(port), "--host", "127.0.0.1"]
    with open(log_path, "wb") as log_file:
        process = subprocess.Popen(
            command,
            cwd=ROOT,
            env=server_env(store_dir),
            stdin=subprocess.DEVNULL,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    server = ChainlitServer(base_url, port, log_path, store_dir, process)
    try:
        deadline = time.monotonic() + timeout
        while not _healthy(base_url):
            if process.poll() is not None:
                raise RuntimeError(
                    f"chainlit exited with code {process.returncode} before serving /health\n{server.log_tail()}"
                )
            if time.monotonic() > deadline:
                raise RuntimeError(f"chainlit did not answer {base_url}/health within {timeout:.0f} s\n{server.log_tail()}")
            time.sleep(0.5)
        yield server
    finally:
        _stop(process)


@pytest.fixture(scope="module")
def chainlit_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ChainlitServer]:
    """One real Chainlit server per test module. Startup failures fail the test (this is the app under test)."""
    workdir = tmp_path_factory.mktemp("chainlit")
    try:
        with run_chainlit(workdir) as server:
            yield server
    except RuntimeError as exc:
        pytest.fail(str(exc), pytrace=False)
