"""The documented scale-out topology on loopback, without Docker: the same parts as compose.yaml.

nginx (Debian's package) in front with sticky sessions (`ip_hash`) and the websocket upgrade, two
`chainlit run app.py` instances, a Redis of its own (Debian's `redis-server`), a private schema in the
local PostgreSQL and a `chroma run` server. Tests use `loopback_cluster()`; a developer runs the whole
topology from one command and opens the printed address:

    make cluster        # = .venv/bin/python -m tests.loopback_cluster

Every process is its own process group under one work folder, stopped (and the schema dropped) on exit.
"""

from __future__ import annotations

import argparse
import contextlib
import math
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import redis

from knowledge.settings import UploadSettings

from tests.chroma_server import ChromaServer, run_chroma
from tests.cluster import AppInstance, run_instance
from tests.postgres import PG_URL, private_schema
from tests.processes import free_port, log_tail, stop

NGINX = shutil.which("nginx") or "/usr/sbin/nginx"
REDIS_SERVER = shutil.which("redis-server") or "/usr/bin/redis-server"
STARTUP_TIMEOUT_S = 30.0
# nginx stops sending to an instance after one failed attempt, for this long; a killed instance's customers
# move to the other one at their next request.
FAIL_TIMEOUT_S = 30
UPSTREAM_HEADER = "X-Upstream"  # which instance answered: the tests need to know whom to kill

NGINX_CONF = """\
{user}worker_processes 1;
daemon off;
pid {work}/nginx.pid;
error_log {work}/nginx-error.log warn;
events {{ worker_connections 1024; }}
http {{
    access_log {work}/nginx-access.log;
    client_body_temp_path {work}/tmp/body;
    proxy_temp_path {work}/tmp/proxy;
    fastcgi_temp_path {work}/tmp/fastcgi;
    uwsgi_temp_path {work}/tmp/uwsgi;
    scgi_temp_path {work}/tmp/scgi;
    # The websocket upgrade: socket.io starts with HTTP polling, then upgrades on the same instance.
    map $http_upgrade $connection_upgrade {{ default upgrade; '' close; }}
    upstream app {{
        # Sticky sessions: a socket.io session lives in one instance's memory, so every request of a client
        # must reach the same instance while it is up. A failed instance is skipped for fail_timeout.
        ip_hash;
{servers}
    }}
    server {{
        listen 127.0.0.1:{port};
        client_max_body_size {max_body_mb}m;
        # Prometheus scrapes each instance directly; the public never sees the metrics.
        location = /metrics {{ return 403; }}
        location / {{
            proxy_pass http://app;
            proxy_http_version 1.1;
            proxy_set_header Upgrade $http_upgrade;
            proxy_set_header Connection $connection_upgrade;
            proxy_set_header Host $host;
            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
            proxy_set_header X-Forwarded-Proto $scheme;
            proxy_buffering off;
            proxy_read_timeout 1h;
            proxy_next_upstream error timeout http_502 http_503;
            add_header {header} $upstream_addr always;
        }}
    }}
}}
"""


@dataclass
class Nginx:
    url: str
    port: int
    work: Path
    process: subprocess.Popen

    def log_tail(self, lines: int = 30) -> str:
        return log_tail(self.work / "nginx-error.log", lines, "nginx error log")


@dataclass
class LoopbackCluster:
    nginx: Nginx
    instances: list[AppInstance]
    redis: RedisServer
    chroma: ChromaServer
    schema: str
    demo_password: str

    @property
    def url(self) -> str:
        return self.nginx.url

    def serving(self) -> AppInstance:
        """The instance nginx sends this machine's requests to (sticky by client address)."""
        with urllib.request.urlopen(f"{self.url}/health", timeout=10) as response:
            upstream = response.headers[UPSTREAM_HEADER]
        port = int(upstream.rsplit(":", 1)[1].split(",")[0])
        return next(i for i in self.instances if i.port == port)

    def kill(self, instance: AppInstance) -> None:
        """SIGKILL, as a crashed machine: no shutdown hook runs."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(instance.process.pid, signal.SIGKILL)
        instance.process.wait(timeout=10)

    def logs(self) -> str:
        return "\n".join([*(i.log_tail() for i in self.instances), self.nginx.log_tail()])


class ClusterStartError(RuntimeError):
    pass


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return response.status < 500
    except urllib.error.HTTPError as exc:
        return exc.code < 500
    except OSError:
        return False


def _wait(ready, process: subprocess.Popen, what: str, log: str) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    while not ready():
        if process.poll() is not None or time.monotonic() > deadline:
            raise ClusterStartError(f"{what} did not start (exit code {process.poll()})\n{log}")
        time.sleep(0.2)


@dataclass
class RedisServer:
    """A Redis of its own (nothing to share with, or flush in, the machine's Redis) that a test may kill and
    start again on the same port, with the same (empty) data: a crash and a restart."""

    port: int
    work: Path
    process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        command = [REDIS_SERVER, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly",
                   "no", "--dir", str(self.work), "--logfile", str(self.work / "redis.log")]
        self.process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                        stderr=subprocess.STDOUT, start_new_session=True)
        _wait(lambda: _redis_pong(self.port), self.process, "redis-server", log_tail(self.work / "redis.log", 20))

    def kill(self) -> None:
        if self.process is not None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process is not None:
            stop(self.process, signal.SIGTERM)


@contextlib.contextmanager
def run_redis(work: Path) -> Iterator[RedisServer]:
    work.mkdir(parents=True, exist_ok=True)
    server = RedisServer(free_port(), work)
    try:
        server.start()
        yield server
    finally:
        server.stop()


def _redis_pong(port: int) -> bool:
    try:
        return bool(redis.Redis(port=port, socket_connect_timeout=1).ping())
    except redis.RedisError:
        return False


@contextlib.contextmanager
def run_nginx(work: Path, upstream_ports: list[int], max_body_mb: int) -> Iterator[Nginx]:
    for folder in ("body", "proxy", "fastcgi", "uwsgi", "scgi"):
        (work / "tmp" / folder).mkdir(parents=True, exist_ok=True)
    port = free_port()
    servers = "\n".join(f"        server 127.0.0.1:{p} max_fails=1 fail_timeout={FAIL_TIMEOUT_S}s;"
                        for p in upstream_ports)
    # As root, nginx's workers would switch to a user that cannot write the work folder.
    user = "user root;\n" if os.geteuid() == 0 else ""
    conf = work / "nginx.conf"
    conf.write_text(NGINX_CONF.format(user=user, work=work, servers=servers, port=port, max_body_mb=max_body_mb,
                                      header=UPSTREAM_HEADER), encoding="utf-8")
    process = subprocess.Popen([NGINX, "-c", str(conf), "-p", str(work), "-e", str(work / "nginx-error.log")],
                               stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT,
                               start_new_session=True)
    nginx = Nginx(f"http://127.0.0.1:{port}", port, work, process)
    try:
        _wait(lambda: _answers(f"{nginx.url}/health"), process, "nginx", nginx.log_tail())
        yield nginx
    finally:
        stop(process, signal.SIGQUIT)


def instance_settings(work: Path, redis_url: str, chroma: ChromaServer, schema: str,
                      demo_password: str) -> dict[str, str]:
    """What each instance is given, as compose.yaml's env file gives it: the shared services and secrets."""
    return {
        "SESSION_REDIS_URL": redis_url,
        "SESSION_ENCRYPTION_KEYS": _fernet_key(),
        "DATABASE_URL": PG_URL,
        "DATABASE_SCHEMA_NAME": schema,
        "DATABASE_STORAGE_DIR": str(work / "files"),  # one shared folder, as a shared volume would be
        "KNOWLEDGE_CHROMA_URL": chroma.url,
        "KNOWLEDGE_COLLECTION": f"kb-{uuid.uuid4().hex[:12]}",
        "KNOWLEDGE_STORE_DIR": str(work / "unused-local-chroma"),
        "AUTH_SECRET": secrets.token_urlsafe(48),
        "AUTH_DEMO_PASSWORD": demo_password,
        "AUTH_DEMO_CONVERSATIONS": "false",
        "AUTH_TRUSTED_PROXIES": "127.0.0.1",  # nginx: the sign-in limit counts the customer, not the proxy
    }


def _fernet_key() -> str:
    from cryptography.fernet import Fernet

    return Fernet.generate_key().decode()


@contextlib.contextmanager
def loopback_cluster(work: Path, instances: int = 2, extra: dict[str, str] | None = None) -> Iterator[LoopbackCluster]:
    """Redis, Chroma, a private PostgreSQL schema, `instances` app instances and nginx, until the block exits."""
    demo_password = "demo-" + secrets.token_urlsafe(12)
    with contextlib.ExitStack() as stack:
        redis = stack.enter_context(run_redis(work / "redis"))
        chroma = stack.enter_context(run_chroma(work / "chroma"))
        schema = stack.enter_context(private_schema())
        settings = instance_settings(work, redis.url, chroma, schema, demo_password) | (extra or {})
        # The first instance migrates the schema and ingests the help centre before the next one starts.
        apps = [stack.enter_context(run_instance(name, work / name.lower(), settings))
                for name in "ABCDEFGH"[:instances]]
        # nginx must let the app refuse an oversized file itself, with its own message: room above the limit.
        max_body_mb = 2 * math.ceil(UploadSettings().max_size_mb)
        nginx = stack.enter_context(run_nginx(work / "nginx", [a.port for a in apps], max_body_mb))
        yield LoopbackCluster(nginx, apps, redis, chroma, schema, demo_password)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--instances", type=int, default=2, help="app instances behind nginx (default: 2)")
    parser.add_argument("--work", type=Path, help="folder for logs and data (default: a new temporary folder)")
    args = parser.parse_args()
    work = args.work or Path(tempfile.mkdtemp(prefix="loopback-cluster-"))
    # SIGTERM (a `kill`, a supervisor) stops everything as Ctrl-C does: the processes and the schema go too.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    with loopback_cluster(work, args.instances) as cluster:
        print(f"open {cluster.url}  (sign in as dana@example.com, password {cluster.demo_password})")
        print(f"logs and data under {work}; Ctrl-C stops everything")
        with contextlib.suppress(KeyboardInterrupt):
            signal.pause()


if __name__ == "__main__":
    main()
