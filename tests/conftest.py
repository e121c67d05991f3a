"""Shared fixtures. Real network calls are blocked: only loopback connections are allowed."""

from __future__ import annotations

import ipaddress
import os
import socket
from pathlib import Path

import pytest

from tests.processes import SETTING_PREFIXES

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("DO_NOT_TRACK", "1")
os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "knowledge" / "docs"
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")

# pytest-timeout: `timeout` in pyproject.toml bounds every test; these start real servers (each one's
# start-up alone may take up to 180 s on 2 cores, see tests/chainlit_server.py and tests/cluster.py).
SLOW_MARKER_TIMEOUT_S = 900


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        slow = item.get_closest_marker("browser") or item.get_closest_marker("server")
        if slow and item.get_closest_marker("timeout") is None:
            item.add_marker(pytest.mark.timeout(SLOW_MARKER_TIMEOUT_S))


# The shared test data (`../shared/data` beside the checkout; see its README). SHARED_DATA_DIR
# points elsewhere; a clone in another folder of this machine still finds /work/shared/data.
_SHARED_DATA_CANDIDATES = [
    Path(os.environ["SHARED_DATA_DIR"]) if os.environ.get("SHARED_DATA_DIR") else None,
    Path(__file__).resolve().parents[2] / "shared" / "data",
    Path("/work/shared/data"),
]


def shared_data(relative: str) -> Path:
    """The shared data file `relative` (e.g. "banking77/train.csv"): the first place that has it."""
    places = [base / relative for base in _SHARED_DATA_CANDIDATES if base is not None]
    return next((path for path in places if path.exists()), places[0])


def require(condition: bool, reason: str) -> None:
    """Skip when a real service or binary is missing, but fail under CI, where it must exist."""
    if not condition:
        (pytest.fail if IN_CI else pytest.skip)(reason)


def _is_loopback(address: object) -> bool:
    if not isinstance(address, tuple):
        return True  # unix sockets
    host = address[0]
    if host in ("localhost", ""):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@pytest.fixture(autouse=True)
def block_network(monkeypatch: pytest.MonkeyPatch) -> None:
    real_connect = socket.socket.connect

    def guarded_connect(self: socket.socket, address: object) -> None:
        if not _is_loopback(address):
            raise ConnectionRefusedError(f"tests may not reach the network: {address!r}")
        return real_connect(self, address)

    monkeypatch.setattr(socket.socket, "connect", guarded_connect)


@pytest.fixture(scope="session")
def embedder():
    from knowledge.embedder import Embedder

    return Embedder()


@pytest.fixture(scope="session")
def shipped_kb(embedder, tmp_path_factory):
    """The sample knowledge base, ingested once into a private store."""
    from knowledge.factory import build_knowledge
    from agent.settings import KnowledgeSettings, Settings

    settings = Settings(knowledge=KnowledgeSettings(store_dir=tmp_path_factory.mktemp("kb"), docs_dir=DOCS))
    kb = build_knowledge(settings.knowledge, embedder)
    kb.ingest([DOCS])
    kb.warm()  # as the app does at start: the first search does not embed every sentence
    return kb


@pytest.fixture(autouse=True)
def isolated_settings(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Tests see documented defaults, never the developer's shell variables or .env file."""
    for name in list(os.environ):
        if name.startswith(SETTING_PREFIXES):  # every settings group, DATABASE_ and AUTH_ included
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)  # no .env here


@pytest.fixture
def settings(tmp_path: Path):
    from agent.settings import KnowledgeSettings, Settings

    return Settings(knowledge=KnowledgeSettings(store_dir=tmp_path / "chroma", docs_dir=DOCS))
