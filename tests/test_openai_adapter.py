"""The OpenAI-compatible adapter against a local HTTP server replaying recorded wire responses."""

from __future__ import annotations

import json
import re
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from agent.errors import ModelError
from agent.models.messages import Message, ModelRequest, ResponseComplete, TextChunk, ToolCallChunk
from agent.models.openai_compat import OpenAIChatModel
from agent.settings import LLMSettings
from tools.base import ToolCall, ToolResult, ToolSpec

FIXTURES = Path(__file__).parent / "fixtures" / "openai"
SEARCH = ToolSpec("search_knowledge", "Search the help centre.", {
    "type": "object", "properties": {"query": {"type": "string"}}, "required": ["query"],
})


@dataclass
class Reply:
    status: int = 200
    body: bytes = b""
    content_type: str = "application/json"
    delay_s: float = 0.0
    headers: dict[str, str] = field(default_factory=dict)
    chunked: bool = False  # sent event by event, the body's end a moment after [DONE], as vLLM streams
    gap_s: float = 0.0  # chunked: a pause after each event, as a server streams what the model makes


def fixture(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


class FakeOpenAI:
    """Serves scripted replies in order and records what the client sent."""

    def __init__(self) -> None:
        self.replies: list[Reply] = []
        self.requests: list[dict] = []
        self.headers: list[dict[str, str]] = []
        self.peers: list[tuple[str, int]] = []  # the client's address of each request: one per connection
        self.models: list[OpenAIChatModel] = []
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # connections kept alive, as model servers do

            def do_POST(self) -> None:  # noqa: N802 - http.server's naming
                fake.peers.append(self.client_address)
                length = int(self.headers.get("content-length", 0))
                fake.requests.append(json.loads(self.rfile.read(length)))
                fake.headers.append({k.lower(): v for k, v in self.headers.items()})
                reply = fake.replies.pop(0)
                time.sleep(reply.delay_s)
                try:
                    self.send_response(reply.status)
                    self.send_header("content-type", reply.content_type)
                    if reply.chunked:
                        self.send_header("transfer-encoding", "chunked")
                    else:
                        self.send_header("content-length", str(len(reply.body)))
                    for key, value in reply.headers.items():
                        self.send_header(key, value)
                    self.end_headers()
                    if not reply.chunked:
                        self.wfile.write(reply.body)
                        return
                    for event in reply.body.split(b"\n\n"):
                        if event:
                            self.wfile.write(b"%x\r\n%s\r\n" % (len(event) + 2, event + b"\n\n"))
                            self.wfile.flush()
                            time.sleep(reply.gap_s)
                    time.sleep(0.05)  # the end of the body in a packet of its own
                    self.wfile.write(b"0\r\n\r\n")
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (timeout test)

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/v1"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
async def server():
    fake = FakeOpenAI()
    yield fake
    for model in fake.models:
        await model.aclose()
    fake.close()


def model_for(server: FakeOpenAI, **overrides) -> OpenAIChatModel:
    settings = LLMSettings(**{"model": "gpt-4o-mini", "base_url": server.url, "api_key": "sk-test",
                              "retry_backoff_s": 0.01, **overrides})
    model = OpenAIChatModel(settings)
    server.models.append(model)  # its connections closed after the test
    return model


REQUEST = ModelRequest(
    messages=[
        Message.system("You are a support assistant."),
        Message.user("How long do I have to return something, and when do I get my money?"),
    ],
    tools=[SEARCH],
)


async def collect(model: OpenAIChatModel, request: ModelRequest = REQUEST) -> list:
    return [event async for event in model.stream(request)]


async def test_streamed_tool_call_deltas_are_assembled(server):
    server.replies.append(Reply(body=fixture("stream_tool_call.sse"), content_type="text/event-stream"))
    events = await collect(model_for(server))

    chunks = [e for e in events if isinstance(e, ToolCallChunk)]
    assert len(chunks) == 6 and {c.index for c in chunks} == {0, 1}
    final = events[-1]
    assert isinstance(final, ResponseComplete)
    assert final.response.finish_reason == "tool_calls"
    assert final.response.tool_calls == (
        ToolCall("call_Vx3kq1", "search_knowledge", '{"query": "return window"}'),
        ToolCall("call_Zr8m02", "search_knowledge", '{"query": "refund time"}'),
    )
    sent = server.requests[0]
    assert sent["stream"] is True and sent["model"] == "gpt-4o-mini"
    assert sent["tools"][0]["function"]["name"] == "search_knowledge"
    assert sent["messages"][1]["role"] == "user"
    assert server.headers[0]["authorization"] == "Bearer sk-test"


async def test_streamed_text_and_usage(server):
    """Words go on as they arrive; words that arrived together go on together (one read, one TextChunk)."""
    server.replies.append(Reply(body=fixture("stream_text.sse"), content_type="text/event-stream", chunked=True,
                                gap_s=0.05))
    server.replies.append(Reply(body=fixture("stream_text.sse"), content_type="text/event-stream"))
    model = model_for(server)
    events = await collect(model)
    together = await collect(model)

    texts = [e.text for e in events if isinstance(e, TextChunk)]
    assert texts == ["You can return", " most items within", " 30 days of delivery [1]."]
    assert [e.text for e in together if isinstance(e, TextChunk)] == ["".join(texts)]
    assert together[-1].response == events[-1].response
    response = events[-1].response
    assert response.text == "You can return most items within 30 days of delivery [1]."
    assert response.tool_calls == () and response.finish_reason == "stop"
    assert (response.usage.input_tokens, response.usage.output_tokens) == (412, 14)


async def test_tool_round_trip_is_sent_in_openai_wire_format(server):
    server.replies.append(Reply(body=fixture("completion_tool_call.json")))
    call = ToolCall("call_1", "search_knowledge", '{"query": "returns"}')
    request = ModelRequest(
        messages=[
            Message.user("returns?"),
            Message.assistant("", (call,)),
            Message.tool(call, ToolResult.success([], message="No help-centre article matches this query.")),
        ],
        tools=[SEARCH],
    )
    response = await model_for(server).complete(request)

    assert response.tool_calls == (ToolCall("call_8YqLm3", "search_knowledge", '{"query": "warranty length"}'),)
    assert response.usage.input_tokens == 388
    wire = server.requests[0]["messages"]
    assert wire[1] == {"role": "assistant", "content": None, "tool_calls": [
        {"id": "call_1", "type": "function", "function": {"name": "search_knowledge", "arguments": '{"query": "returns"}'}}
    ]}
    # The typed result becomes JSON here, once, as the model reads it.
    assert wire[2] == {"role": "tool", "tool_call_id": "call_1",
                       "content": '{"ok": true, "data": [], "message": "No help-centre article matches this query."}'}


async def test_tool_declarations_are_sent_whole_and_follow_a_changed_spec(server):
    # Each declaration is encoded once and reused: a spec replaced by another of the same name is encoded anew.
    server.replies += [Reply(body=fixture("completion_tool_call.json")) for _ in range(2)]
    model = model_for(server)
    renamed = ToolSpec("search_knowledge", "Search the help centre and the shop's policies.", SEARCH.parameters)
    await model.complete(ModelRequest(messages=[Message.user("returns?")], tools=[SEARCH]))
    await model.complete(ModelRequest(messages=[Message.user("returns?")], tools=[renamed]))

    declared = [{"type": "function", "function": {"name": t.name, "description": t.description,
                                                  "parameters": t.parameters}} for t in (SEARCH, renamed)]
    assert [r["tools"] for r in server.requests] == [[declared[0]], [declared[1]]]
    assert server.requests[0]["messages"] == [{"role": "user", "content": "returns?"}]
    assert "stream" not in server.requests[0]
    assert server.headers[0]["content-type"] == "application/json"


async def test_a_registrys_tools_are_encoded_once_across_requests(server, monkeypatch):
    """The orchestrator asks the registry for its specs on every call: the same objects come back, so each tool's
    declaration (most of a request's bytes) is encoded once, not once per request."""
    import agent.models.openai_compat as adapter
    from agent.settings import Settings
    from tests.test_orchestrator import lookup_order
    from tools.registry import ToolRegistry

    registry = ToolRegistry([lookup_order], Settings().tools)
    encoded: list[object] = []
    real_dumps = json.dumps
    monkeypatch.setattr(adapter.json, "dumps", lambda value, **kw: encoded.append(value) or real_dumps(value, **kw))
    server.replies += [Reply(body=fixture("completion_tool_call.json")) for _ in range(2)]
    model = model_for(server)
    for _ in range(2):
        await model.complete(ModelRequest(messages=[Message.user("where is my order?")], tools=tuple(registry.specs())))
    declarations = [v for v in encoded if isinstance(v, dict) and v.get("type") == "function"]
    assert len(declarations) == 1, "one tool, encoded once for both requests"
    assert [r["tools"][0]["function"]["name"] for r in server.requests] == ["lookup_order", "lookup_order"]


def _delta(**delta) -> str:
    return json.dumps({"id": "c1", "object": "chat.completion.chunk",
                       "choices": [{"index": 0, "delta": delta, "finish_reason": None}]})


async def test_server_sent_events_are_read_as_the_standard_has_them(server):
    """Keep-alive comments, field lines other than data, CRLF line ends, an event's JSON over two data lines, and
    a last event with neither [DONE] nor its blank line (servers differ; the standard allows all of them)."""
    first = _delta(role="assistant", content="You can")
    split = _delta(content=" return it").replace(", ", ",\ndata: ", 1)
    body = (": keep-alive\r\n\r\n"
            f"event: message\r\nid: 1\r\ndata: {first}\r\n\r\n"
            f"data: {split}\n\n"
            f"data:{_delta(content=' within 30 days.')}").encode()
    server.replies.append(Reply(body=body, content_type="text/event-stream"))
    events = await collect(model_for(server))
    # One read: the events with their blank line together, the last one at the stream's end.
    assert [e.text for e in events if isinstance(e, TextChunk)] == ["You can return it", " within 30 days."]
    assert events[-1].response.text == "You can return it within 30 days."


async def test_a_stream_that_is_not_json_is_a_bad_response(server):
    server.replies.append(Reply(body=b"data: {\"choices\": [\n\n", content_type="text/event-stream"))
    with pytest.raises(ModelError) as caught:
        await collect(model_for(server))
    assert caught.value.kind == "bad_response"


@pytest.mark.parametrize("chunked", [False, True])
async def test_one_connection_serves_the_requests_one_after_another(server, chunked):
    # Pooled and kept alive, as model servers expect: no new connection (and handshake) per request, also when the
    # body's end comes after [DONE] in a packet of its own.
    server.replies += [Reply(body=fixture("stream_text.sse"), content_type="text/event-stream", chunked=chunked)
                       for _ in range(3)]
    model = model_for(server)
    for _ in range(3):
        assert (await collect(model))[-1].response.text.startswith("You can return")
    assert len(server.requests) == 3 and len(set(server.peers)) == 1


@pytest.mark.parametrize("failure", [
    b'data: {"error": {"message": "CUDA out of memory", "type": "server_error", "code": 500}}\n\n',  # vLLM
    b'event: error\ndata: {"message": "context size exceeded", "code": 500}\n\n',  # an event named error
])
async def test_an_error_in_the_middle_of_a_stream_is_not_a_finished_reply(server, failure):
    # Half a sentence and then the server's failure: said as a failure, never passed off as the whole answer.
    body = f"data: {_delta(role='assistant', content='Your refund of ')}\n\n".encode() + failure + b"data: [DONE]\n\n"
    server.replies.append(Reply(body=body, content_type="text/event-stream"))
    events = []
    with pytest.raises(ModelError) as caught:
        async for event in model_for(server).stream(REQUEST):
            events.append(event)
    assert caught.value.kind == "bad_response"
    assert [e.text for e in events] == ["Your refund of "] and not any(isinstance(e, ResponseComplete) for e in events)


async def test_a_key_read_from_a_file_with_its_line_break_still_authenticates(server):
    server.replies.append(Reply(body=fixture("completion_tool_call.json")))
    await model_for(server, api_key="sk-test\n").complete(REQUEST)
    assert server.headers[0]["authorization"] == "Bearer sk-test"


def test_the_proxy_comes_from_the_environment_once(monkeypatch):
    from agent.models.openai_compat import proxy_for

    for name in ("HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY", "http_proxy", "https_proxy", "no_proxy", "ALL_PROXY",
                 "all_proxy"):
        monkeypatch.delenv(name, raising=False)
    assert proxy_for("https://api.openai.com/v1") is None
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.internal:3128")
    monkeypatch.setenv("NO_PROXY", "localhost,vllm.internal")
    assert proxy_for("https://api.openai.com/v1") == "http://proxy.internal:3128"
    assert proxy_for("https://vllm.internal/v1") is None
    assert proxy_for("http://127.0.0.1:8000/v1") is None  # no HTTP_PROXY set


@pytest.mark.parametrize("body", [b'{"id": "x", "choices": []}', b'{"id": "x"}', b'["not", "a", "completion"]'])
async def test_a_reply_that_is_not_a_chat_completion_is_a_bad_response(server, body):
    server.replies.append(Reply(body=body))
    with pytest.raises(ModelError) as caught:
        await model_for(server).complete(REQUEST)
    assert caught.value.kind == "bad_response"


@pytest.mark.parametrize("body", [b'{"error": "model llama9 not found"}', b'{"error": {"message": "bad model"}}',
                                  b"<html>Bad Request</html>"])
async def test_a_refusal_in_any_shape_is_a_bad_response(server, body):
    # Servers differ in how they say no: OpenAI's {"error": {...}}, a bare string (some local servers), HTML.
    server.replies.append(Reply(status=400, body=body))
    with pytest.raises(ModelError) as caught:
        await model_for(server, max_retries=3).complete(REQUEST)
    assert caught.value.kind == "bad_response"
    assert len(server.requests) == 1, "a 400 is not retried"


async def test_429_is_retried_then_succeeds(server):
    server.replies += [
        Reply(status=429, body=fixture("error_429.json"), headers={"retry-after": "0"}),
        Reply(status=503, body=b'{"error": {"message": "overloaded", "type": "server_error"}}'),
        Reply(body=fixture("stream_text.sse"), content_type="text/event-stream"),
    ]
    events = await collect(model_for(server, max_retries=3))
    assert events[-1].response.text.startswith("You can return")
    assert len(server.requests) == 3


async def test_429_beyond_the_retry_budget_is_a_rate_limit_error(server):
    server.replies += [Reply(status=429, body=fixture("error_429.json")) for _ in range(3)]
    with pytest.raises(ModelError) as info:
        await collect(model_for(server, max_retries=2))
    assert info.value.kind == "rate_limited"
    assert "busy" in info.value.user_message
    assert len(server.requests) == 3


async def test_timeout_is_retried_then_reported(server):
    server.replies += [Reply(body=fixture("stream_text.sse"), content_type="text/event-stream", delay_s=1.0)
                       for _ in range(2)]
    started = time.monotonic()
    with pytest.raises(ModelError) as info:
        await collect(model_for(server, timeout_s=0.2, max_retries=1))
    assert info.value.kind == "timeout"
    assert len(server.requests) == 2
    assert time.monotonic() - started < 1.5, "the client must give up at its own timeout, not the server's pace"


async def test_bad_api_key_is_not_retried(server):
    server.replies.append(Reply(status=401, body=fixture("error_401.json")))
    with pytest.raises(ModelError) as info:
        await model_for(server, max_retries=3).complete(REQUEST)
    assert info.value.kind == "auth"
    assert "sk-wrong" not in info.value.user_message
    assert len(server.requests) == 1


async def test_unreachable_server_is_unavailable():
    settings = LLMSettings(model="llama3.1", base_url="http://127.0.0.1:9/v1", max_retries=1, retry_backoff_s=0.01)
    model = OpenAIChatModel(settings)
    with pytest.raises(ModelError) as info:
        await model.complete(REQUEST)
    await model.aclose()
    assert info.value.kind == "unavailable"


async def test_configured_llm_drives_the_agent_with_tool_calling(server, shipped_kb, monkeypatch):
    """With LLM_* set, the app's wiring picks this adapter, and a streamed tool call runs the real tool."""
    from agent.runner.conversation import Conversation
    from agent.runner.events import Sources, ToolFinished, TurnDone
    from agent.factory import build_model
    from agent.runner.orchestrator import SupportAgent
    from agent.settings import Settings
    from tools.knowledge import knowledge_tools
    from tools.registry import ToolRegistry

    monkeypatch.setenv("LLM_MODEL", "llama3.1")
    monkeypatch.setenv("LLM_BASE_URL", server.url)
    monkeypatch.setenv("LLM_RETRY_BACKOFF_S", "0.01")
    settings = Settings()
    model = build_model(settings, shipped_kb.embedder)
    assert isinstance(model, OpenAIChatModel)
    server.models.append(model)

    server.replies += [
        Reply(body=fixture("stream_tool_call.sse"), content_type="text/event-stream"),
        Reply(body=fixture("stream_text.sse"), content_type="text/event-stream"),
    ]
    agent = SupportAgent(model, ToolRegistry(knowledge_tools(shipped_kb), settings.tools), shipped_kb, settings)
    events = [e async for e in agent.run_turn(Conversation("c-llm"), "How long do I have to return an item?")]

    assert [e.name for e in events if isinstance(e, ToolFinished) and e.result.ok] == ["search_knowledge"] * 2
    first, second = server.requests
    assert first["model"] == "llama3.1"
    assert re.search(r"\[\d\] Returns › Return Window", first["messages"][0]["content"]), "passages are in the prompt"
    tool_messages = [m for m in second["messages"] if m["role"] == "tool"]
    assert [m["tool_call_id"] for m in tool_messages] == ["call_Vx3kq1", "call_Zr8m02"]
    assert "30 days" in tool_messages[0]["content"]
    done = events[-1]
    assert isinstance(done, TurnDone) and done.status == "completed" and "30 days" in done.reply
    sources = next(e for e in events if isinstance(e, Sources))
    first_in_prompt = re.search(r"^\[1\] (.+)$", first["messages"][0]["content"], re.M).group(1)
    assert [(c.ref, c.passage.citation) for c in sources.citations] == [(1, first_in_prompt)], "the reply cites [1]"
