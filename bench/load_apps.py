"""The two servers bench/bench_load.py drives, and the memory of each while it is driven.

`run_echo` writes a bare Chainlit app into a folder and runs it: no sign-in, no data layer, each message
streamed back word by word. It is the floor: what Chainlit and its socket.io cost for the same chats.
`app_settings` is this app's environment for the benchmark: offline engine (or the fake LLM's settings on
top), sign-in off, rate limits out of the way, and a private SQLite database, file folder and Chroma folder.
"""

from __future__ import annotations

import asyncio
import contextlib
import multiprocessing
import os
import subprocess
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

import psutil
import uvicorn

from tests.cluster import CHAINLIT, STARTUP_TIMEOUT_S, AppInstance, InstanceStartError
from tests.fake_llm import Say, env_for, models, sse
from tests.processes import app_env, free_port, stop

RSS_SAMPLE_S = 0.25  # often enough to catch a peak that lasts a turn
FAKE_MODEL_BACKLOG = 2048  # a hundred chats connect at once
UNLIMITED = "1000000"  # messages per minute and burst: the benchmark measures turns, not the limiter

ECHO_APP = '''"""A bare Chainlit app for bench/bench_load.py: streams each message back, word by word."""

import chainlit as cl


@cl.on_chat_start
async def on_chat_start() -> None:
    pass  # the bench's client waits for this hook, as it does on the real app


@cl.on_message
async def on_message(message: cl.Message) -> None:
    reply = cl.Message(content="")
    words = message.content.split(" ")
    for i, word in enumerate(words):
        await reply.stream_token(word + (" " if i < len(words) - 1 else ""))
    await reply.send()
'''


# What the fake model says to every question: about as long as an offline answer's first paragraph.
FAKE_REPLY = ("You can return most items within 30 days of delivery for a full refund, as long as they are "
              "unused and in their original packaging. Start the return from your order page.")


async def _fake_model(scope: dict, receive: Callable, send: Callable) -> None:
    """The fake model as an ASGI app: every chat completion is FAKE_REPLY, streamed as tests/fake_llm.py does."""
    while (await receive()).get("more_body"):  # the request, read and dropped: the reply is always the same
        pass
    if scope["method"] == "POST":
        status, kind, body = 200, b"text/event-stream", sse(Say(FAKE_REPLY))
    else:
        (status, body), kind = models(scope["path"]), b"application/json"
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", kind), (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})


def _serve_fake_model(reply_to: object) -> None:
    # On uvicorn, one event loop and HTTP/1.1 kept alive, as vLLM's OpenAI server runs: a thread per connection
    # (http.server) cost the app's two cores more than the connects it saved, and a new connection per request
    # is work a deployment's pooled connections don't do.
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(_fake_model, host="127.0.0.1", port=port, log_level="warning",
                                           backlog=FAKE_MODEL_BACKLOG, lifespan="off"))

    async def serve() -> None:
        task = asyncio.create_task(server.serve())
        while not server.started:
            await asyncio.sleep(0.05)
        reply_to.send(env_for(f"http://127.0.0.1:{port}/v1"))  # type: ignore[attr-defined]
        await task

    asyncio.run(serve())


@contextlib.contextmanager
def fake_model_process() -> Iterator[dict[str, str]]:
    """A zero-latency fake OpenAI-compatible server (tests/fake_llm.py) in a process of its own; yields the app's
    settings that point at it. In the load client's process its replies waited for the client's hundred chats
    (one interpreter, one GIL): latency no model server adds."""
    context = multiprocessing.get_context("fork")
    mine, theirs = context.Pipe()
    process = context.Process(target=_serve_fake_model, args=(theirs,), name="fake-model", daemon=True)
    process.start()
    try:
        yield mine.recv()
    finally:
        process.terminate()
        process.join()


def app_settings(workdir: Path, llm_env: dict[str, str] | None = None) -> dict[str, str]:
    """This app's settings for the benchmark (tests.cluster.run_instance strips the caller's own)."""
    return {
        "DATABASE_URL": f"sqlite+aiosqlite:///{workdir / 'app.db'}",
        "DATABASE_STORAGE_DIR": str(workdir / "files"),
        "KNOWLEDGE_STORE_DIR": str(workdir / "chroma"),
        "SESSION_REDIS_URL": "",  # in-process sessions, as a single instance runs
        "AUTH_ENABLED": "false",
        "AUTH_DEMO_USERS": "false",
        "AUTH_DEMO_CONVERSATIONS": "false",  # no background seeding competing with the chats
        "SESSION_RATE_LIMIT_BURST": UNLIMITED,
        "SESSION_RATE_LIMIT_PER_MINUTE": UNLIMITED,
    } | (llm_env or {})


def _answers(base_url: str) -> bool:
    try:
        with urllib.request.urlopen(base_url + "/", timeout=2.0) as response:
            return response.status == 200
    except (OSError, urllib.error.URLError):
        return False


@contextlib.contextmanager
def run_echo(workdir: Path, timeout: float = STARTUP_TIMEOUT_S) -> Iterator[AppInstance]:
    """`chainlit run echo.py --headless` in `workdir` until the block exits; ready once its root answers."""
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / "echo.py").write_text(ECHO_APP, encoding="utf-8")
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    log_path = workdir / "echo.log"
    command = [str(CHAINLIT), "run", "echo.py", "--headless", "--host", "127.0.0.1", "--port", str(port)]
    with open(log_path, "wb") as log_file:
        process = subprocess.Popen(command, cwd=workdir, env=app_env(), stdin=subprocess.DEVNULL, stdout=log_file,
                                   stderr=subprocess.STDOUT, start_new_session=True)
    instance = AppInstance("echo", base_url, port, log_path, workdir, process)
    try:
        deadline = time.monotonic() + timeout
        while not _answers(base_url):
            if process.poll() is not None:
                raise InstanceStartError(f"the echo app exited with code {process.returncode}\n{instance.log_tail()}")
            if time.monotonic() > deadline:
                raise InstanceStartError(f"the echo app did not answer {base_url}/ within {timeout:.0f} s\n"
                                         f"{instance.log_tail()}")
            time.sleep(0.5)
        yield instance
    finally:
        stop(process)


class PeakRSS:
    """Samples the summed RSS of one process group in a thread until `stop()`; `peak_mb` is the largest sum."""

    def __init__(self, pgid: int) -> None:
        self.pgid = pgid
        self.peak_bytes = 0
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _group_rss(self) -> int:
        total = 0
        for process in psutil.process_iter():
            with contextlib.suppress(psutil.Error, ProcessLookupError):
                if os.getpgid(process.pid) == self.pgid:
                    total += process.memory_info().rss
        return total

    def _run(self) -> None:
        while not self._done.is_set():
            self.peak_bytes = max(self.peak_bytes, self._group_rss())
            self._done.wait(RSS_SAMPLE_S)

    def __enter__(self) -> PeakRSS:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._done.set()
        self._thread.join()

    @property
    def peak_mb(self) -> float:
        return self.peak_bytes / 2**20
