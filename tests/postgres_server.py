"""A PostgreSQL server of a test's own (Debian's binaries), which the test may restart: the machine's shared
PostgreSQL is never stopped. initdb refuses to run as root, so as root the server runs as `postgres`."""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from tests.processes import free_port, log_tail, stop

BIN = Path("/usr/lib/postgresql")
STARTUP_TIMEOUT_S = 60.0


def binary(name: str) -> str | None:
    found = shutil.which(name)
    if found:
        return found
    versions = sorted(BIN.glob(f"*/bin/{name}"))
    return str(versions[-1]) if versions else None


class PostgresStartError(RuntimeError):
    pass


@dataclass
class PostgresServer:
    port: int
    data: Path
    log: Path
    process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"postgresql+asyncpg://postgres@127.0.0.1:{self.port}/postgres"

    def start(self) -> None:
        command = [binary("postgres"), "-D", str(self.data), "-p", str(self.port), "-h", "127.0.0.1",
                   "-k", str(self.data)]
        with open(self.log, "ab") as log:
            self.process = subprocess.Popen(_as_owner(command), stdin=subprocess.DEVNULL, stdout=log,
                                            stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + STARTUP_TIMEOUT_S
        while not self.ready():
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise PostgresStartError(f"postgres did not start\n{log_tail(self.log, 30)}")
            time.sleep(0.2)

    def ready(self) -> bool:
        probe = subprocess.run([binary("pg_isready"), "-h", "127.0.0.1", "-p", str(self.port)],
                               capture_output=True, check=False)
        return probe.returncode == 0

    def stop(self) -> None:
        """A fast shutdown: open connections are cut, as in a restart by an operator or a failover."""
        if self.process is not None:
            stop(self.process, signal.SIGINT)


def _as_owner(command: list[str]) -> list[str]:
    return ["runuser", "-u", "postgres", "--", *command] if os.geteuid() == 0 else command


def available() -> str | None:
    """None when a private server can run here, else why not."""
    for name in ("initdb", "postgres", "pg_isready"):
        if binary(name) is None:
            return f"{name} is not installed (apt-get install postgresql)"
    if os.geteuid() == 0:
        try:
            pwd.getpwnam("postgres")
        except KeyError:
            return "running as root, and there is no postgres user to run the server as"
    return None


@contextlib.contextmanager
def run_postgres(work: Path) -> Iterator[PostgresServer]:
    """A fresh cluster (initdb, trust auth) on a free port; its log in `work`, its data in a folder of its own
    that the server's user can reach (pytest's folders are private to the user running the tests)."""
    work.mkdir(parents=True, exist_ok=True)
    home = Path(tempfile.mkdtemp(prefix="test-postgres-"))
    data = home / "data"
    if os.geteuid() == 0:
        owner = pwd.getpwnam("postgres")
        os.chmod(home, 0o755)
        os.chown(home, owner.pw_uid, owner.pw_gid)
    try:
        init = subprocess.run(_as_owner([binary("initdb"), "-D", str(data), "-A", "trust", "-U", "postgres"]),
                              capture_output=True, text=True, check=False)
        if init.returncode != 0:
            raise PostgresStartError(f"initdb failed: {init.stderr[-2000:]}")
        server = PostgresServer(free_port(), data, work / "postgres.log")
        try:
            server.start()
            yield server
        finally:
            server.stop()
    finally:
        shutil.rmtree(home, ignore_errors=True)
