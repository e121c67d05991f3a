"""What every test that starts a real server process needs: ports, a clean environment, logs, stopping."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import urllib.error
import urllib.request
from pathlib import Path

# Everything agent.settings reads, plus Chainlit's own knobs: an inherited CHAINLIT_AUTH_SECRET would
# beat AUTH_SECRET (app.py only uses setdefault), and OAUTH_* would add providers to the login page.
SETTING_PREFIXES = (
    "APP_", "LLM_", "KNOWLEDGE_", "OFFLINE_", "SESSION_", "CHAT_", "TOOLS_", "UPLOADS_", "DATABASE_", "AUTH_", "STORE_",
    "OBSERVABILITY_",
)  # fmt: skip
SERVER_ONLY_PREFIXES = ("CHAINLIT_", "OAUTH_")
OFFLINE_ENV = {
    "HF_HUB_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1",
    "DO_NOT_TRACK": "1",
    "SCARF_NO_ANALYTICS": "1",
    "ANONYMIZED_TELEMETRY": "False",
    "PYTHONUNBUFFERED": "1",
}


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def app_env(overrides: dict[str, str] | None = None) -> dict[str, str]:
    """The inherited environment without any app or Chainlit setting, offline, with `overrides` on top."""
    stripped = SETTING_PREFIXES + SERVER_ONLY_PREFIXES
    env = {name: value for name, value in os.environ.items() if not name.startswith(stripped)}
    env.update(OFFLINE_ENV)
    env["LLM_MODEL"] = ""  # the offline answer engine, even if a ./.env sets a model
    env.update(overrides or {})
    return env


def log_tail(path: Path, lines: int, label: str = "") -> str:
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError as exc:
        return f"<no log at {path}: {exc}>"
    tail = "\n".join(text.splitlines()[-lines:])
    return f"--- last {lines} lines of {label or path} ---\n{tail}"


def healthy(base_url: str) -> bool:
    """The app's /health answers {"status": "ok", ...} once it serves requests."""
    try:
        with urllib.request.urlopen(f"{base_url}/health", timeout=2.0) as response:
            return response.status == 200 and json.loads(response.read()).get("status") == "ok"
    except (OSError, urllib.error.URLError, ValueError):
        return False


def stop(process: subprocess.Popen, first: signal.Signals = signal.SIGINT) -> None:
    """Stop a server started with start_new_session=True, and everything in its process group."""
    if process.poll() is None:
        signals = [first] + [s for s in (signal.SIGTERM, signal.SIGKILL) if s != first]
        for sig, grace in zip(signals, (10.0, 5.0, 5.0)):
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(process.pid, sig)
            try:
                process.wait(timeout=grace)
                break
            except subprocess.TimeoutExpired:
                continue
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)  # anything left in the group
