"""Several real `chainlit run app.py` instances sharing Redis, PostgreSQL and Chroma (a helper, not a test module).

Each instance is its own process group, logs to its own file and gets its own Chainlit app root
(symlinks to the project's `.chainlit/`, `public/` and `chainlit.md`): Chainlit keeps uploaded files
under `<app root>/.files` and deletes that whole folder when it shuts down, so instances sharing the
project folder would delete each other's uploads (and those of any other test server running there).
Separate roots also model separate machines more faithfully.

`ChatClient` drives a chat over Chainlit's socket.io endpoint exactly like the page does, signed in
with the `access_token` cookie from POST /login, and can resume an existing thread by its id.
"""

from __future__ import annotations

import asyncio
import contextlib
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import socketio

from tests.processes import app_env, free_port, healthy, log_tail, stop

ROOT = Path(__file__).resolve().parent.parent
CHAINLIT = Path(sys.executable).parent / "chainlit"
STARTUP_TIMEOUT_S = 180.0
TURN_TIMEOUT_S = 90.0

COLLECTED_EVENTS = ("task_start", "task_end", "stream_start", "stream_token", "new_message", "update_message",
                    "element", "first_interaction", "resume_thread", "resume_thread_error")


@dataclass
class AppInstance:
    name: str
    base_url: str
    port: int
    log_path: Path
    app_root: Path
    process: subprocess.Popen

    def log_text(self) -> str:
        try:
            return self.log_path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return ""

    def log_tail(self, lines: int = 60) -> str:
        return f"--- last {lines} lines of instance {self.name} ({self.log_path}) ---\n{log_tail(self.log_path, lines)}"


class InstanceStartError(RuntimeError):
    pass


def _app_root(workdir: Path) -> Path:
    root = workdir / "app-root"
    root.mkdir(parents=True, exist_ok=True)
    for name in (".chainlit", "public", "chainlit.md"):
        link = root / name
        if not link.exists():
            link.symlink_to(ROOT / name)
    return root


@contextlib.contextmanager
def run_instance(name: str, workdir: Path, settings: dict[str, str],
                 timeout: float = STARTUP_TIMEOUT_S) -> Iterator[AppInstance]:
    """`chainlit run app.py --headless` (cwd = the project) on a free loopback port, until the block exits."""
    if not CHAINLIT.exists():
        raise InstanceStartError(f"chainlit executable not found at {CHAINLIT}")
    workdir.mkdir(parents=True, exist_ok=True)
    root = _app_root(workdir)
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    log_path = workdir / f"instance-{name}.log"
    env = app_env(settings) | {"CHAINLIT_APP_ROOT": str(root)}
    command = [str(CHAINLIT), "run", "app.py", "--headless", "--host", "127.0.0.1", "--port", str(port)]
    with open(log_path, "wb") as log_file:
        process = subprocess.Popen(command, cwd=ROOT, env=env, stdin=subprocess.DEVNULL, stdout=log_file,
                                   stderr=subprocess.STDOUT, start_new_session=True)
    instance = AppInstance(name, base_url, port, log_path, root, process)
    try:
        deadline = time.monotonic() + timeout
        while not healthy(base_url):
            if process.poll() is not None:
                raise InstanceStartError(f"instance {name} exited with code {process.returncode} before "
                                         f"serving /health\n{instance.log_tail()}")
            if time.monotonic() > deadline:
                raise InstanceStartError(f"instance {name} did not answer {base_url}/health within "
                                         f"{timeout:.0f} s\n{instance.log_tail()}")
            time.sleep(0.5)
        yield instance
    finally:
        stop(process)


async def login(instance: AppInstance, username: str, password: str) -> str:
    """POST /login as the page does; returns the `access_token` cookie."""
    async with httpx.AsyncClient(base_url=instance.base_url, timeout=30) as http:
        response = await http.post("/login", data={"username": username, "password": password})
    assert response.status_code == 200, (
        f"login of {username} on {instance.name} answered {response.status_code}: {response.text[:300]}\n"
        f"{instance.log_tail()}")
    token = response.cookies.get("access_token")
    assert token, f"no access_token cookie after login on {instance.name}: {dict(response.cookies)}"
    return token


@dataclass
class Turn:
    """What the server sent between `task_start` and `task_end` for one user message, with arrival times."""

    events: list[tuple[float, str, Any]]
    messages: dict[str, dict] = field(default_factory=dict)  # final step dicts by id, in arrival order
    streamed: dict[str, str] = field(default_factory=dict)  # text assembled from the stream, by message id

    def times(self, name: str) -> list[float]:
        return [t for t, n, _ in self.events if n == name]

    @property
    def elements(self) -> list[dict]:
        return [data for _, name, data in self.events if name == "element"]

    @property
    def assistant_messages(self) -> list[dict]:
        return [m for m in self.messages.values() if m.get("type") == "assistant_message"]

    @property
    def reply(self) -> dict:
        """The assistant's final message: the streamed answer if there is one, else the last assistant note."""
        streamed = [m for m in self.assistant_messages if m["id"] in self.streamed]
        candidates = streamed or self.assistant_messages
        assert candidates, f"no assistant message in the turn:\n{self.summary()}"
        return candidates[-1]

    @property
    def reply_text(self) -> str:
        return self.reply.get("output") or ""

    @property
    def work_span(self) -> tuple[float, float]:
        """(first, last) arrival of the output the turn sends under the conversation's lock: the streamed reply,
        notes, cards and tool steps.

        Left out: Chainlit's `on_message` run step, which opens before the app's handler runs; and a streamed
        reply's closing send with its source elements, which the page adapter makes once the service's
        `TurnDone` arrives, after the lock is released and the turn's facts are written (agent/web/handlers.py).
        Neither says when the turn itself started or ended.
        """
        streamed = {d.get("id") for _, n, d in self.events if n == "stream_start" and isinstance(d, dict)}
        outputs = [t for t, n, d in self.events
                   if n in ("stream_start", "stream_token", "new_message", "update_message")
                   and not (isinstance(d, dict) and (d.get("type") == "run"
                                                     or (n == "new_message" and d.get("id") in streamed)))]
        assert outputs, f"the turn produced no output:\n{self.summary()}"
        return outputs[0], outputs[-1]

    def summary(self) -> str:
        lines = []
        start = self.events[0][0] if self.events else 0.0
        for t, name, data in self.events:
            if name == "stream_token":
                continue
            brief = ({k: data.get(k) for k in ("id", "type", "name", "output", "forId")}
                     if isinstance(data, dict) else data)
            lines.append(f"+{t - start:.3f}s {name}: {brief!r}"[:400])
        return "\n".join(lines)


class ChatClient:
    """One Chainlit webapp session over socket.io on one instance, signed in with a cookie."""

    def __init__(self, instance: AppInstance, token: str, *, thread_id: str | None = None) -> None:
        self.instance = instance
        self.token = token
        self.session_id = str(uuid.uuid4())
        self.resume_id = thread_id
        self.thread_id = thread_id
        self.history: list[tuple[float, str, Any]] = []
        self.sio = socketio.AsyncClient(reconnection=False)
        self.queue: asyncio.Queue[tuple[float, str, Any]] = asyncio.Queue()
        for name in COLLECTED_EVENTS:
            self.sio.on(name, self._collector(name))

    def _collector(self, name: str):
        async def handler(data: Any = None) -> None:
            item = (time.monotonic(), name, data)
            self.history.append(item)
            if name == "first_interaction" and isinstance(data, dict) and data.get("thread_id"):
                self.thread_id = data["thread_id"]
            await self.queue.put(item)

        return handler

    def context(self) -> str:
        return f"{self.instance.log_tail()}"

    async def connect(self) -> list[tuple[float, str, Any]]:
        """Open the session; with a thread id, resume that thread (it must exist and belong to the user)."""
        auth = {"clientType": "webapp", "sessionId": self.session_id, "userEnv": "{}", "chatProfile": "Support"}
        if self.resume_id:
            auth["threadId"] = self.resume_id
        await self.sio.connect(self.instance.base_url, socketio_path="/ws/socket.io", transports=["websocket"],
                               headers={"Cookie": f"access_token={self.token}"}, auth=auth, wait_timeout=30)
        await self.sio.emit("connection_successful")
        # connection_successful first answers with a bare task_end.
        events = await self._until(("task_end",), timeout=30)
        if self.resume_id:
            events += await self._until(("resume_thread", "resume_thread_error"), timeout=60)
            name, data = events[-1][1], events[-1][2]
            assert name == "resume_thread", (
                f"instance {self.instance.name} could not resume thread {self.resume_id}: {data!r}\n{self.context()}")
            assert data.get("id") == self.resume_id, data
            return events
        # A new chat runs on_chat_start as its own task: task_start ... task_end.
        events += await self._until(("task_start",), timeout=30)
        events += await self._until(("task_end",), timeout=60)
        turn = assemble(events)
        names = [m.get("name") for m in turn.messages.values()]
        assert "on_chat_start" in names, f"on_chat_start did not run:\n{turn.summary()}\n{self.context()}"
        errors = [m for m in turn.messages.values() if m.get("isError") or m.get("name") == "Error"]
        assert not errors, f"on_chat_start failed: {errors}\n{self.context()}"
        return events

    async def _until(self, wanted: tuple[str, ...], timeout: float) -> list[tuple[float, str, Any]]:
        seen: list[tuple[float, str, Any]] = []
        while True:
            item = await asyncio.wait_for(self.queue.get(), timeout)
            seen.append(item)
            if item[1] in wanted:
                return seen

    async def send(self, text: str, file_ids: tuple[str, ...] = ()) -> float:
        """Emit one user message as the page does; returns when it was emitted."""
        message = {"id": str(uuid.uuid4()), "threadId": "", "name": "User", "type": "user_message",
                   "output": text, "createdAt": ""}
        refs = [{"id": file_id} for file_id in file_ids] or None
        sent_at = time.monotonic()
        await self.sio.emit("client_message", {"message": message, "fileReferences": refs})
        return sent_at

    async def collect_turn(self) -> Turn:
        events: list[tuple[float, str, Any]] = []
        try:
            async with asyncio.timeout(TURN_TIMEOUT_S):
                events += await self._until(("task_start",), TURN_TIMEOUT_S)
                events += await self._until(("task_end",), TURN_TIMEOUT_S)
        except TimeoutError:
            raise AssertionError(f"no task_end from instance {self.instance.name} within {TURN_TIMEOUT_S:.0f} s; "
                                 f"events so far:\n{assemble(events).summary()}\n{self.context()}") from None
        return assemble(events)

    async def ask(self, text: str, file_ids: tuple[str, ...] = ()) -> Turn:
        await self.send(text, file_ids)
        return await self.collect_turn()

    async def wait_thread_id(self, timeout: float = 30) -> str:
        """The thread's id, announced by `first_interaction` once Chainlit has created the thread row."""
        deadline = time.monotonic() + timeout
        while not self.thread_id:
            assert time.monotonic() < deadline, f"no first_interaction from {self.instance.name}\n{self.context()}"
            await asyncio.sleep(0.05)
        return self.thread_id

    async def upload(self, name: str, data: bytes, mime: str) -> str:
        """POST /project/file for this session, as the page does when a file is attached; returns its id."""
        async with httpx.AsyncClient(base_url=self.instance.base_url, timeout=60,
                                     cookies={"access_token": self.token}) as http:
            response = await http.post("/project/file", params={"session_id": self.session_id},
                                       files={"file": (name, data, mime)})
        assert response.status_code == 200, (
            f"upload to {self.instance.name} answered {response.status_code}: {response.text[:300]}\n"
            f"{self.context()}")
        return response.json()["id"]

    async def close(self) -> None:
        if self.sio.connected:
            await self.sio.disconnect()


def assemble(events: list[tuple[float, str, Any]]) -> Turn:
    turn = Turn(events)
    for _, name, data in events:
        if name == "stream_start":
            turn.streamed[data["id"]] = data.get("output") or ""
            turn.messages[data["id"]] = data
        elif name == "stream_token":
            if data.get("isInput"):
                continue
            if data.get("isSequence"):
                turn.streamed[data["id"]] = data["token"]
            else:
                turn.streamed[data["id"]] = turn.streamed.get(data["id"], "") + data["token"]
        elif name in ("new_message", "update_message"):
            turn.messages[data["id"]] = data
    return turn
