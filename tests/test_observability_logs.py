"""Log lines: personal data redacted, JSON or text, each carrying the turn's context; and the metrics a turn moves.

Redaction is checked on the lines a real process writes to stderr (a subprocess configured like app.py), and
the context fields on the lines a real `ChatService` turn logs through `agent.logs`' own handler.
"""

from __future__ import annotations

import io
import json
import logging
import subprocess
import sys
from collections.abc import Iterator

import pytest
from prometheus_client import REGISTRY

from agent.chat.service import ChatService, Customer
from agent.errors import ModelError
from agent.logs import handler, redact
from agent.models.scripted import ScriptedModel, call_tools, tool_call
from agent.runner.events import Notice, TurnDone
from agent.runner.memory import ExtractiveSummarizer
from agent.runner.orchestrator import SupportAgent
from agent.sessions.conversations import ConversationRepository
from agent.sessions.memory import MemoryRateLimiter, MemorySessionStore
from tools.base import tool
from tools.registry import ToolRegistry

EMAIL, CARD, PHONE, ADDRESS = "dana.smith@example.com", "4242 4242 4242 4242", "(415) 555-0134", "221 Pine Street"
PII = (EMAIL, CARD, PHONE, ADDRESS, "4242", "555-0134", "Pine Street", "dana.smith")

LOGGING_PROGRAM = f"""
import logging
from agent.logs import configure_logging
configure_logging("INFO", "{{fmt}}")
log = logging.getLogger("agent.test")
log.info("customer %s paid with %s, call %s, ship to %s, order #W1001003 on 2026-12-03",
         {EMAIL!r}, {CARD!r}, {PHONE!r}, {ADDRESS!r} + ", Apt 3, Seattle, WA 98101")
try:
    raise ValueError("no account for {EMAIL}")
except ValueError:
    log.exception("lookup failed for %s", {PHONE!r})
"""


def run_logging(fmt: str) -> str:
    result = subprocess.run([sys.executable, "-c", LOGGING_PROGRAM.replace("{fmt}", fmt)], capture_output=True,
                            text=True, timeout=60, check=True)
    return result.stderr


@pytest.mark.parametrize("fmt", ["text", "json"])
def test_emails_cards_phones_and_addresses_never_reach_the_log(fmt: str) -> None:
    out = run_logging(fmt)
    for secret in PII:
        assert secret not in out, f"{secret!r} leaked into:\n{out}"
    for placeholder in ("[email]", "[card]", "[phone]", "[address]"):
        assert placeholder in out, out
    assert "#W1001003" in out and "2026-12-03" in out and "WA 98101" in out  # not personal: kept readable
    assert "Traceback" in out and "ValueError" in out


def test_json_lines_are_one_object_each() -> None:
    lines = run_logging("json").strip().splitlines()
    records = [json.loads(line) for line in lines if line.startswith("{")]
    assert [r["level"] for r in records] == ["INFO", "ERROR"]
    assert records[0]["logger"] == "agent.test" and "[email]" in records[0]["message"]
    assert "exc_info" in records[1] and "[email]" in records[1]["exc_info"]


@tool(backend="shipping")
def track(order_id: str) -> dict:
    """Where an order is."""
    logging.getLogger("tests.tool").info("tracking %s for %s", order_id, EMAIL)
    return {"order_id": order_id, "status": "shipped"}


@pytest.fixture
def captured() -> Iterator[io.StringIO]:
    stream = io.StringIO()
    out = handler("json")
    out.setStream(stream)
    root = logging.getLogger()
    root.addHandler(out)
    level = root.level
    root.setLevel(logging.INFO)
    yield stream
    root.removeHandler(out)
    root.setLevel(level)


def service(settings, model, burst: int = 100) -> ChatService:
    registry = ToolRegistry([track], settings.tools)
    agent = SupportAgent(model, registry, None, settings)
    repository = ConversationRepository(MemorySessionStore(60, 1), ExtractiveSummarizer(4), max_messages=20,
                                        max_tokens=2000)
    return ChatService(agent, repository, MemoryRateLimiter(1, burst))


def sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


async def drain(events) -> list:
    return [event async for event in events]


async def test_a_turn_logs_with_its_context_and_is_counted(settings, captured: io.StringIO) -> None:
    model = ScriptedModel([call_tools(tool_call("track", {"order_id": "#W1001003"})), "It has shipped."])
    chat = service(settings, model)
    turns = sample("support_turns_total", kind="message", status="completed")
    timed = sample("support_turn_seconds_count", kind="message")
    first = sample("support_first_token_seconds_count")
    tools = sample("support_tool_calls_total", tool="track", outcome="ok")

    events = await drain(chat.send(Customer("conv-1", "dana@example.com", "Dana", role="customer"), "Where is it?"))

    assert isinstance(events[-1], TurnDone) and events[-1].status == "completed"
    assert sample("support_turns_total", kind="message", status="completed") == turns + 1
    assert sample("support_turn_seconds_count", kind="message") == timed + 1
    assert sample("support_first_token_seconds_count") == first + 1
    assert sample("support_tool_calls_total", tool="track", outcome="ok") == tools + 1
    assert sample("support_turns_running") == 0
    line = next(json.loads(x) for x in captured.getvalue().splitlines() if "tracking" in x)
    assert line["message"] == "tracking #W1001003 for [email]"
    assert line["conversation_id"] == "conv-1" and line["role"] == "customer" and len(line["turn_id"]) == 36


async def test_model_errors_and_rate_limits_are_counted(settings) -> None:
    chat = service(settings, ScriptedModel([ModelError("unavailable", "down")]), burst=1)
    errors = sample("support_model_errors_total", kind="unavailable")
    limited = sample("support_rate_limited_messages_total")
    await drain(chat.send(Customer("conv-2", "x@example.com"), "hello"))
    refused = await drain(chat.send(Customer("conv-2", "x@example.com"), "hello again"))
    assert sample("support_model_errors_total", kind="unavailable") == errors + 1
    assert sample("support_rate_limited_messages_total") == limited + 1
    assert isinstance(refused[0], Notice) and refused[-1].status == "rejected"


async def test_a_draining_service_refuses_messages_but_not_clicks(settings) -> None:
    chat = service(settings, ScriptedModel(["never used"]))
    chat.drain()
    events = await drain(chat.send(Customer("conv-3"), "hello"))
    assert isinstance(events[0], Notice) and "send it again" in events[0].text
    assert events[-1] == TurnDone("", "rejected", reason="draining") and chat.running == 0


@pytest.mark.parametrize("text", ["picked up 2026-12-04 12:26:25", "at 2026-12-04 09:15:02,117 the turn ended",
                                  "between 2026-12-04 and 2026-12-05"])
def test_dates_and_times_are_not_read_as_phone_numbers(text: str) -> None:
    # "2026-12-04 12" has a phone number's ten digits; a date with its time is not personal data.
    assert redact(text) == text
    assert redact(f"{text}, call 415-555-0134: thanks") == f"{text}, call [phone]: thanks"
