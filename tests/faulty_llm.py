"""An OpenAI-compatible server that fails on cue: 500s, 429s with Retry-After, silence, a stream cut halfway.

Each chat request takes the next scripted fault; with none left it answers normally (tests/fake_llm.py's
wire format). `served` records what each request got, with its arrival time, so a test can tell a retry
that waited for Retry-After from one that did not.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from tests.fake_llm import MODEL, Say, sse


@dataclass(frozen=True)
class Status:
    code: int
    retry_after_s: int | None = None


@dataclass(frozen=True)
class Silence:
    seconds: float


@dataclass(frozen=True)
class Cut:
    """Send the first half of `text`'s stream, then drop the connection: no finish reason, no [DONE]."""

    text: str


@dataclass(frozen=True)
class Slow:
    """Answer normally, after `seconds`: a turn long enough for something else to happen in it."""

    seconds: float


@dataclass(frozen=True)
class Trickle:
    """Stream `text` one word every `interval_s`: a reply long in the streaming, to cut it off midway."""

    text: str
    interval_s: float


Fault = Status | Silence | Cut | Slow | Trickle


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    fake: FaultyOpenAI


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"

    def do_POST(self) -> None:  # noqa: N802 - http.server's naming
        self.rfile.read(int(self.headers.get("content-length", 0)))
        fault = self.server.fake.faults.pop(0) if self.server.fake.faults else None
        self.server.fake.served.append((time.monotonic(), type(fault).__name__ if fault else "answer"))
        if isinstance(fault, Status):
            self._status(fault)
        elif isinstance(fault, Silence):
            time.sleep(fault.seconds)
            self.close_connection = True
        elif isinstance(fault, Cut):
            self._cut(fault)
        elif isinstance(fault, Slow):
            time.sleep(fault.seconds)
            self._stream(sse(Say(self.server.fake.answer)))
        elif isinstance(fault, Trickle):
            self._trickle(fault)
        else:
            self._stream(sse(Say(self.server.fake.answer)))

    def _status(self, fault: Status) -> None:
        body = json.dumps({"error": {"message": f"fault {fault.code}", "type": "server_error"}}).encode()
        self.send_response(fault.code)
        if fault.retry_after_s is not None:
            self.send_header("retry-after", str(fault.retry_after_s))
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _stream(self, body: bytes) -> None:
        self.send_response(200)
        self.send_header("content-type", "text/event-stream")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _trickle(self, fault: Trickle) -> None:
        whole = sse(Say(fault.text))
        self.send_response(200)
        self.send_header("content-type", "text/event-stream")
        self.send_header("content-length", str(len(whole)))
        self.end_headers()
        try:
            for event in whole.split(b"\n\n"):
                if event:
                    self.wfile.write(event + b"\n\n")
                    self.wfile.flush()
                    time.sleep(fault.interval_s)
        except OSError:  # the app went away mid-stream, which is the point
            self.close_connection = True

    def _cut(self, fault: Cut) -> None:
        whole = sse(Say(fault.text))
        events = whole.split(b"\n\n")
        half = b"\n\n".join(events[: len(events) // 2]) + b"\n\n"
        self.send_response(200)
        self.send_header("content-type", "text/event-stream")
        self.send_header("content-length", str(len(whole)))  # promises more than it sends
        self.end_headers()
        self.wfile.write(half)
        self.wfile.flush()
        self.close_connection = True

    def do_GET(self) -> None:  # noqa: N802 - the model list, which readiness probes
        body = json.dumps({"object": "list", "data": [{"id": MODEL, "object": "model"}]}).encode()
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


class FaultyOpenAI:
    def __init__(self, answer: str) -> None:
        self.answer = answer
        self.faults: list[Fault] = []
        self.served: list[tuple[float, str]] = []
        self.server = _Server(("127.0.0.1", 0), _Handler)
        self.server.fake = self
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/v1"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def env(self, timeout_s: float, retries: int) -> dict[str, str]:
        return {"LLM_MODEL": MODEL, "LLM_BASE_URL": self.url, "LLM_API_KEY": "sk-test",
                "LLM_TIMEOUT_S": str(timeout_s), "LLM_MAX_RETRIES": str(retries), "LLM_RETRY_BACKOFF_S": "0.1"}

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
