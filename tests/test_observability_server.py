"""/ready and /metrics of a real `chainlit run app.py`, over real PostgreSQL, Redis, a Chroma server and an
OpenAI-compatible model server (tests/fake_llm.py).

PostgreSQL is the machine's shared server, so it is never stopped: the app reaches it through a TCP relay this
module owns, and "down" is the relay closing (its port then refuses, its connections drop). Redis (Debian's
`redis-server`), the Chroma server and the model server are this module's own and are stopped for real.
"""

from __future__ import annotations

import contextlib
import json
import secrets
import shutil
import signal
import socket
import subprocess
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import redis
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy.engine import make_url

from tests.app_server_fixtures import ChatClient
from tests.chainlit_server import CUSTOMER, DEMO_PASSWORD, ChainlitServer, http_get, login, run_chainlit
from tests.chroma_server import ChromaStartError, ChromaServer, run_chroma
from tests.conftest import require
from tests.fake_llm import RuleBasedOpenAI, Say
from tests.postgres import PG_URL, private_schema, require_postgres
from tests.processes import free_port, stop

pytestmark = pytest.mark.server
REPLY = "Hello from the model server."
REDIS_SERVER = shutil.which("redis-server") or "/usr/bin/redis-server"
REDIS_START_TIMEOUT_S = 20.0
WARM_WAIT_S = 120.0  # ~12 s on a quiet machine; this only bounds a failing test


@contextlib.contextmanager
def run_redis(work: Path) -> Iterator[tuple[str, subprocess.Popen]]:
    """A Redis of this module's own, so stopping it takes nothing from anyone else."""
    require(Path(REDIS_SERVER).exists(), f"redis-server is not installed at {REDIS_SERVER} (apt-get install redis)")
    work.mkdir(parents=True, exist_ok=True)
    port = free_port()
    process = subprocess.Popen(
        [REDIS_SERVER, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
         "--dir", str(work), "--logfile", str(work / "redis.log")],
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT, start_new_session=True,
    )
    url = f"redis://127.0.0.1:{port}/0"
    try:
        deadline = time.monotonic() + REDIS_START_TIMEOUT_S
        while True:
            with contextlib.suppress(redis.RedisError):
                if redis.Redis.from_url(url, socket_connect_timeout=1).ping():
                    break
            if process.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"redis-server did not start (exit code {process.poll()})", pytrace=False)
            time.sleep(0.2)
        yield url, process
    finally:
        stop(process, signal.SIGTERM)


class Relay:
    """A TCP relay from a free loopback port to `target`; `close()` takes the target "down" for the app."""

    def __init__(self, host: str, port: int) -> None:
        self.target = (host, port)
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.sockets: list[socket.socket] = []
        self.closed = False
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while not self.closed:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            try:
                upstream = socket.create_connection(self.target, timeout=5)
            except OSError:
                client.close()
                continue
            upstream.settimeout(None)
            self.sockets += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    @staticmethod
    def _pump(source: socket.socket, sink: socket.socket) -> None:
        with contextlib.suppress(OSError):
            while data := source.recv(65536):
                sink.sendall(data)
        with contextlib.suppress(OSError):
            sink.shutdown(socket.SHUT_RDWR)

    def close(self) -> None:
        self.closed = True
        with contextlib.suppress(OSError):
            self.listener.shutdown(socket.SHUT_RDWR)  # wakes the blocked accept(); close() alone would not
        self.listener.close()
        for sock in self.sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()


@dataclass
class Deployment:
    app: ChainlitServer
    chroma: ChromaServer
    model: RuleBasedOpenAI
    postgres: Relay
    redis: subprocess.Popen


@pytest.fixture(scope="module")
def deployment(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    require_postgres()
    workdir = tmp_path_factory.mktemp("observability")
    (workdir / "no-docs").mkdir()
    pg = make_url(PG_URL)
    postgres = Relay(pg.host or "127.0.0.1", pg.port or 5432)
    model = RuleBasedOpenAI(lambda messages: Say(REPLY))
    try:
        with private_schema() as schema, contextlib.ExitStack() as stack:
            redis_url, redis_process = stack.enter_context(run_redis(workdir / "redis"))
            try:
                chroma = stack.enter_context(run_chroma(workdir / "chroma-server"))
            except ChromaStartError as exc:
                require(False, str(exc))
                raise
            env = {
                **model.env(),
                "DATABASE_URL": pg.set(port=postgres.port).render_as_string(hide_password=False),
                "DATABASE_SCHEMA_NAME": schema,
                "SESSION_REDIS_URL": redis_url,
                "KNOWLEDGE_CHROMA_URL": chroma.url,
                "KNOWLEDGE_COLLECTION": f"kb-{uuid.uuid4().hex[:12]}",
                "KNOWLEDGE_DOCS_DIR": str(workdir / "no-docs"),
                "AUTH_SECRET": secrets.token_urlsafe(48),
                "OBSERVABILITY_READY_TIMEOUT_S": "3",
            }
            try:
                app = stack.enter_context(run_chainlit(workdir / "app", env=env))
            except RuntimeError as exc:
                pytest.fail(str(exc), pytrace=False)
            yield Deployment(app, chroma, model, postgres, redis_process)
    finally:
        model.close()
        postgres.close()


def ready(deployment: Deployment) -> tuple[int, dict]:
    status, _, body = http_get(f"{deployment.app.base_url}/ready", timeout=30)
    return status, json.loads(body)


def scrape(deployment: Deployment) -> dict[tuple[str, tuple], float]:
    """Every sample of /metrics, by (name, sorted labels)."""
    status, headers, body = http_get(f"{deployment.app.base_url}/metrics")
    assert status == 200, body[:300]
    assert headers["content-type"].startswith("text/plain"), headers
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(body) for s in family.samples}


def test_ready_when_every_dependency_answers(deployment: Deployment) -> None:
    status, body = ready(deployment)
    assert status == 200, (body, deployment.app.log_tail())
    assert body == {"status": "ready", "checks": {"database": "ok", "redis": "ok", "chroma": "ok", "model": "ok"}}


def test_responses_carry_a_request_id(deployment: Deployment) -> None:
    _, headers, _ = http_get(f"{deployment.app.base_url}/health")
    assert len(headers.get("x-request-id", "")) >= 16
    _, again, _ = http_get(f"{deployment.app.base_url}/health")
    assert again["x-request-id"] != headers["x-request-id"]


async def test_a_turn_is_counted_and_timed(deployment: Deployment) -> None:
    before = scrape(deployment)
    client = ChatClient(deployment.app, login(deployment.app.base_url, CUSTOMER, DEMO_PASSWORD))
    await client.connect()
    try:
        turn = await client.ask("Hi there")
        assert REPLY in turn.summary(), turn.summary()
        after = scrape(deployment)
        assert after[("support_active_conversations", ())] >= 1
    finally:
        await client.close()

    def grew(name: str, **labels: str) -> float:
        key = (name, tuple(sorted(labels.items())))
        return after.get(key, 0.0) - before.get(key, 0.0)

    assert grew("support_turns_total", kind="message", status="completed") == 1
    assert grew("support_turn_seconds_count", kind="message") == 1
    assert grew("support_turn_seconds_sum", kind="message") > 0
    assert grew("support_first_token_seconds_count") == 1
    assert grew("support_model_errors_total", kind="unavailable") == 0
    assert after[("support_turns_running", ())] == 0
    assert ("support_rate_limited_messages_total", ()) in after
    # Every tool backend's circuit, read at scrape time: closed (1), not open or half-open (0).
    states = {dict(labels)["backend"]: dict(labels)["state"] for (name, labels), value in after.items()
              if name == "support_circuit_state" and value == 1}
    assert states and set(states.values()) == {"closed"}, states


def test_the_help_centre_indexes_built_at_start_are_reported(deployment: Deployment) -> None:
    """They are built in the background after the start (every sentence embedded); the gauge says when they are
    done and how long it took, so an operator or bench/bench_load.py can wait for them."""
    deadline = time.monotonic() + WARM_WAIT_S
    while (took := scrape(deployment).get(("support_knowledge_warm_seconds", ()), 0.0)) == 0:
        assert time.monotonic() < deadline, deployment.app.log_tail()
        time.sleep(0.5)
    assert took > 0 and "built the help centre's search indexes in" in deployment.app.log_text()


def test_ready_names_each_dependency_that_is_down(deployment: Deployment) -> None:
    """Last in this module: it takes everything down, one part at a time."""
    deployment.model.close()
    status, body = ready(deployment)
    assert (status, body["failing"]) == (503, ["model"]), body
    assert body["checks"]["database"] == "ok"

    deployment.chroma.process.terminate()
    deployment.chroma.process.wait(timeout=30)
    status, body = ready(deployment)
    assert (status, body["failing"]) == (503, ["chroma", "model"]), body

    deployment.redis.terminate()
    deployment.redis.wait(timeout=30)
    status, body = ready(deployment)
    assert (status, body["failing"]) == (503, ["chroma", "model", "redis"]), body

    deployment.postgres.close()
    status, body = ready(deployment)
    assert (status, body["failing"]) == (503, ["chroma", "database", "model", "redis"]), body
    assert body["status"] == "unavailable"
    # Liveness is not readiness: the process is fine, so it must not be restarted.
    health, _, _ = http_get(f"{deployment.app.base_url}/health")
    assert health == 200
