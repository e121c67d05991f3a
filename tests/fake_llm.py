"""An OpenAI-compatible chat server for end-to-end tests, answering by rules instead of a model.

It speaks the real wire format (`POST /v1/chat/completions`, streamed `chat.completion.chunk` SSE
with tool-call deltas, as recorded in tests/fixtures/openai), so the app under test runs its real
OpenAI adapter. `rule(messages)` picks each reply from the conversation the app sends.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

MODEL = "gpt-4o-mini-2024-07-18"


@dataclass(frozen=True)
class Say:
    text: str


@dataclass(frozen=True)
class Call:
    name: str
    arguments: dict[str, Any] = field(default_factory=dict)


Rule = Callable[[list[dict[str, Any]]], Say | Call]


def _chunk(delta: dict[str, Any], finish: str | None = None) -> bytes:
    body = {
        "id": "chatcmpl-fake", "object": "chat.completion.chunk", "created": int(time.time()), "model": MODEL,
        "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}],
    }  # fmt: skip
    return b"data: " + json.dumps(body).encode() + b"\n\n"


def sse(reply: Say | Call) -> bytes:
    if isinstance(reply, Say):
        words = reply.text.split(" ")
        parts = [_chunk({"role": "assistant", "content": ""})]
        parts += [_chunk({"content": w + (" " if i < len(words) - 1 else "")}) for i, w in enumerate(words)]
        parts.append(_chunk({}, "stop"))
    else:
        arguments = json.dumps(reply.arguments)
        half = len(arguments) // 2
        call = {"index": 0, "id": f"call_{abs(hash(arguments)) % 10**8}", "type": "function",
                "function": {"name": reply.name, "arguments": ""}}
        parts = [
            _chunk({"role": "assistant", "content": None, "tool_calls": [call]}),
            _chunk({"tool_calls": [{"index": 0, "function": {"arguments": arguments[:half]}}]}),
            _chunk({"tool_calls": [{"index": 0, "function": {"arguments": arguments[half:]}}]}),
            _chunk({}, "tool_calls"),
        ]
    return b"".join(parts) + b"data: [DONE]\n\n"


def env_for(url: str) -> dict[str, str]:
    """The app's settings that point its OpenAI adapter at a fake server's `url` (…/v1)."""
    return {"LLM_MODEL": MODEL, "LLM_BASE_URL": url, "LLM_API_KEY": "sk-test", "LLM_MAX_RETRIES": "0"}


def models(path: str) -> tuple[int, bytes]:
    """(status, body) of a GET: the model list at `/models`, else 404."""
    body = json.dumps({"object": "list", "data": [{"id": MODEL, "object": "model", "owned_by": "test"}]})
    return (200 if path.rstrip("/").endswith("/models") else 404), body.encode()


class _Server(ThreadingHTTPServer):
    # The listen backlog: socketserver's 5 overflowed under bench/bench_load.py's hundred chats, and a connection
    # the kernel drops waits a second for its SYN to be sent again (model latency no real server adds).
    request_queue_size = 256
    daemon_threads = True


class RuleBasedOpenAI:
    """Serves until `close()`; `requests` records every request body."""

    def __init__(self, rule: Rule) -> None:
        self.requests: list[dict[str, Any]] = []
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's naming
                request = json.loads(self.rfile.read(int(self.headers.get("content-length", 0))))
                fake.requests.append(request)
                body = sse(rule(request["messages"]))
                self.send_response(200)
                self.send_header("content-type", "text/event-stream")
                self.send_header("content-length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self) -> None:  # noqa: N802 - the model list, which readiness probes
                status, body = models(self.path)
                self.send_response(status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self.server = _Server(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/v1"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def env(self) -> dict[str, str]:
        return env_for(self.url)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
