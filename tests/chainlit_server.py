"""Start a real `chainlit run app.py` for the server and browser tests (a helper, not a test module).

Only the standard library is used here, so a failure to start says something about the app, not the helper.
The server gets its own process group, a private knowledge store, a private SQLite database and file
folder, a fixed sign-in secret and known demo passwords, and an offline environment: no LLM_* variables,
so the offline answer engine answers, and no model download is ever attempted.

The app requires sign-in: `login()` posts Chainlit's password form and returns the `access_token` cookie,
which HTTP calls (`http_get(..., token=...)`) and the websocket (a `Cookie` header) then send.
"""

from __future__ import annotations

import contextlib
import json
import re
import sqlite3
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from http.cookies import SimpleCookie
from pathlib import Path

import pytest

from tests.processes import app_env, free_port, healthy, log_tail, stop

# Chainlit's log format ("... - ERROR - name - msg") and agent.logs' ("... ERROR name: msg").
ERROR_LINE = re.compile(r" - (ERROR|CRITICAL) - | (ERROR|CRITICAL) [\w.]+: ")
ROOT = Path(__file__).resolve().parent.parent
CHAINLIT = Path(sys.executable).parent / "chainlit"
STARTUP_TIMEOUT_S = 180.0  # ingesting the help centre takes ~35 s on an idle 2-core machine

# Settings groups read by agent.settings: the server must see documented defaults, not the developer's shell.
DEMO_PASSWORD = "larkspur-test-password"  # not the documented default, so the tests really set it
CUSTOMER = "dana@example.com"
LEAD = "lead@larkspurgoods.example"
AUTH_COOKIE = "access_token"


@dataclass
class ChainlitServer:
    base_url: str
    port: int
    log_path: Path
    store_dir: Path
    process: subprocess.Popen
    database_path: Path | None = None

    def log_text(self) -> str:
        """The whole server log so far ("" if it cannot be read)."""
        try:
            return self.log_path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return ""

    def tracebacks(self, since: int = 0) -> list[str]:
        """Python tracebacks and ERROR lines logged after character offset `since` of the log."""
        lines = self.log_text()[since:].splitlines()
        return [line for line in lines if line.startswith("Traceback") or ERROR_LINE.search(line)]

    def log_tail(self, lines: int = 60) -> str:
        """The end of the server's combined stdout/stderr, for assertion messages."""
        return log_tail(self.log_path, lines)

    def rows(self, query: str, *args: object) -> list[tuple]:
        """A query's rows, read straight from the server's SQLite database."""
        with contextlib.closing(sqlite3.connect(self.database_path)) as db:
            return db.execute(query, args).fetchall()


def server_env(workdir: Path, overrides: Mapping[str, str] | None = None) -> dict[str, str]:
    """The server's environment: the caller's, minus every app setting, plus private paths and known secrets."""
    env = app_env()
    env["KNOWLEDGE_STORE_DIR"] = str(workdir / "chroma")
    env["DATABASE_URL"] = f"sqlite+aiosqlite:///{workdir / 'app.db'}"
    env["DATABASE_STORAGE_DIR"] = str(workdir / "files")
    env["AUTH_SECRET"] = "test-secret-" + "x" * 40  # fixed and never the project's .data/auth-secret
    env["AUTH_DEMO_PASSWORD"] = DEMO_PASSWORD
    # Explicit values beat anything a developer's ./.env might set (the server runs in the project folder).
    env["SESSION_REDIS_URL"] = ""  # in-process session state and rate limits
    env["AUTH_ENABLED"] = "true"
    env["AUTH_DEMO_USERS"] = "true"
    env["AUTH_DEMO_CONVERSATIONS"] = "false"  # tests count conversations; the lead's browser test turns it on
    env.update(overrides or {})
    return env


def _request(request: urllib.request.Request, timeout: float) -> tuple[int, dict[str, str], str]:
    # No redirects followed and no cookie jar: each call says exactly what it sends.
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, _headers(response.headers), response.read().decode("utf-8", errors="replace")
    except urllib.error.HTTPError as exc:
        return exc.code, _headers(exc.headers), exc.read().decode("utf-8", errors="replace")


def _headers(message) -> dict[str, str]:
    """Header names lower-cased; repeated headers (Set-Cookie) joined with a newline."""
    headers: dict[str, str] = {}
    for name, value in message.items():
        key = name.lower()
        headers[key] = f"{headers[key]}\n{value}" if key in headers else value
    return headers


def _auth_headers(token: str | None) -> dict[str, str]:
    return {"Cookie": f"{AUTH_COOKIE}={token}"} if token else {}


def http_get(url: str, timeout: float = 10.0, token: str | None = None) -> tuple[int, dict[str, str], str]:
    """GET a loopback URL, signed in when `token` is given; returns status, headers (lower-case names) and body
    text (errors included, not raised)."""
    return _request(urllib.request.Request(url, headers=_auth_headers(token)), timeout)


def http_post_json(
    url: str, payload: object, token: str | None = None, timeout: float = 10.0, method: str = "POST"
) -> tuple[int, dict[str, str], str]:
    """Send a JSON body (POST unless `method` says otherwise), signed in when `token` is given."""
    request = urllib.request.Request(
        url,
        data=json.dumps(payload).encode(),
        method=method,
        headers={"Content-Type": "application/json", **_auth_headers(token)},
    )
    return _request(request, timeout)


def post_login(base_url: str, username: str, password: str, timeout: float = 30.0) -> tuple[int, dict[str, str], str]:
    """POST Chainlit's /login form (OAuth2PasswordRequestForm: application/x-www-form-urlencoded)."""
    body = urllib.parse.urlencode({"username": username, "password": password}).encode()
    request = urllib.request.Request(
        f"{base_url}/login",
        data=body,
        method="POST",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    return _request(request, timeout)


def post_empty(base_url: str, path: str, headers: Mapping[str, str],
               timeout: float = 30.0) -> tuple[int, dict[str, str], str]:  # fmt: skip
    """An empty POST with only `headers`, as Chainlit's page and copilot send their header and token sign-ins."""
    request = urllib.request.Request(f"{base_url}{path}", data=b"", method="POST", headers=dict(headers))
    return _request(request, timeout)


def cookies_set(headers: Mapping[str, str]) -> dict[str, str]:
    """Cookies set by a response (name -> value); a deleted cookie shows up with an empty value."""
    jar: SimpleCookie = SimpleCookie()
    for line in headers.get("set-cookie", "").splitlines():
        jar.load(line)
    return {name: morsel.value for name, morsel in jar.items()}


def login(base_url: str, username: str, password: str) -> str:
    """Sign in through POST /login and return the `access_token` cookie value; raises if refused."""
    status, headers, body = post_login(base_url, username, password)
    if status != 200:
        raise AssertionError(f"POST /login as {username} answered {status}: {body[:300]}")
    cookies = cookies_set(headers)
    if cookies.get(AUTH_COOKIE):
        return cookies[AUTH_COOKIE]
    # Chainlit splits tokens longer than 3000 characters into access_token_0, access_token_1, ...
    chunks = []
    while cookies.get(f"{AUTH_COOKIE}_{len(chunks)}"):
        chunks.append(cookies[f"{AUTH_COOKIE}_{len(chunks)}"])
    if not chunks:
        raise AssertionError(f"POST /login as {username} set no {AUTH_COOKIE} cookie; headers: {headers}")
    return "".join(chunks)


@contextlib.contextmanager
def run_chainlit(
    workdir: Path, timeout: float = STARTUP_TIMEOUT_S, env: Mapping[str, str] | None = None
) -> Iterator[ChainlitServer]:
    """Run `chainlit run app.py --headless` on a free loopback port until the block exits.

    `workdir` receives the knowledge store (`chroma/`), the SQLite database (`app.db`), element files
    (`files/`) and the server log (`chainlit.log`). `env` adds or overrides server variables.
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
            env=server_env(workdir, env),
            stdin=subprocess.DEVNULL,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    server = ChainlitServer(base_url, port, log_path, store_dir, process, workdir / "app.db")
    try:
        deadline = time.monotonic() + timeout
        while not healthy(base_url):
            if process.poll() is not None:
                raise RuntimeError(
                    f"chainlit exited with code {process.returncode} before serving /health\n{server.log_tail()}"
                )
            if time.monotonic() > deadline:
                raise RuntimeError(f"chainlit did not answer {base_url}/health within {timeout:.0f} s\n{server.log_tail()}")
            time.sleep(0.5)
        yield server
    finally:
        stop(process)


@pytest.fixture(scope="module")
def chainlit_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ChainlitServer]:
    """One real Chainlit server per test module. Startup failures fail the test (this is the app under test)."""
    workdir = tmp_path_factory.mktemp("chainlit")
    try:
        with run_chainlit(workdir) as server:
            yield server
    except RuntimeError as exc:
        pytest.fail(str(exc), pytrace=False)


def server_without_docs(tmp_path_factory: pytest.TempPathFactory, name: str,
                        env: Mapping[str, str] | None = None) -> Iterator[ChainlitServer]:
    """A real server over an empty help centre (a fast start), for a module-scoped fixture to `yield from`."""
    workdir = tmp_path_factory.mktemp(name)
    empty_docs = workdir / "no-docs"
    empty_docs.mkdir()
    try:
        with run_chainlit(workdir, env={"KNOWLEDGE_DOCS_DIR": str(empty_docs), **(env or {})}) as server:
            yield server
    except RuntimeError as exc:
        pytest.fail(str(exc), pytrace=False)
