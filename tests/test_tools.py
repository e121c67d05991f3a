"""Tools from typed functions, the registry's safety net, and the circuit breaker."""

from __future__ import annotations

import asyncio
from typing import Annotated

import pytest
from pydantic import BaseModel, Field

from agent.models.scripted import tool_call
from agent.settings import ToolSettings
from tools.base import ToolContext, ToolResult, tool
from tools.errors import ToolDefinitionError, TransientToolError
from tools.registry import ToolRegistry
from tools.resilience import CircuitBreaker

CTX = ToolContext(conversation_id="c1", user_id="u1")
FAST = ToolSettings(retry_backoff_s=0, retry_attempts=3, timeout_s=0.2, breaker_failure_threshold=2,
                    breaker_reset_s=60)


class Address(BaseModel):
    city: str
    zip: Annotated[str, Field(pattern=r"^\d{5}$")]


@tool
async def update_address(ctx: ToolContext, order_id: str, address: Address, notify: bool = True) -> dict:
    """Change the delivery address of a pending order.

    Only pending orders can change.
    """
    return {"order_id": order_id, "city": address.city, "by": ctx.user_id, "notify": notify}


def test_schema_comes_from_the_types():
    assert update_address.name == "update_address"
    # The whole docstring: the rules in later paragraphs reach the model too.
    assert update_address.description == "Change the delivery address of a pending order.\n\nOnly pending orders can change."
    assert update_address.takes_context
    schema = update_address.schema
    assert schema["required"] == ["order_id", "address"]
    assert set(schema["properties"]) == {"order_id", "address", "notify"}, "the context is not a model argument"
    assert schema["properties"]["notify"] == {"default": True, "type": "boolean"}
    assert schema["additionalProperties"] is False
    nested = schema["$defs"]["Address"]["properties"]["zip"]
    assert nested["pattern"] == r"^\d{5}$"


def test_a_tool_needs_a_docstring_and_annotations():
    def undocumented(x: int) -> int:
        return x

    def untyped(x) -> int:
        """Doc."""
        return x

    with pytest.raises(ToolDefinitionError, match="docstring"):
        tool(undocumented)
    with pytest.raises(ToolDefinitionError, match="annotation"):
        tool(untyped)


def test_enabling_an_unknown_tool_is_a_configuration_error():
    with pytest.raises(ToolDefinitionError, match="nope"):
        ToolRegistry.from_settings([update_address], ToolSettings(enabled=["update_address", "nope"]))


def test_tools_enabled_reads_a_comma_separated_env(monkeypatch):
    monkeypatch.setenv("TOOLS_ENABLED", "search_knowledge, update_address")
    assert ToolSettings().enabled == ["search_knowledge", "update_address"]


async def test_valid_call_gets_context_and_validated_arguments():
    registry = ToolRegistry([update_address], FAST)
    call = tool_call("update_address", {"order_id": "#W1", "address": {"city": "Austin", "zip": "78701"}})
    result = await registry.run(call, CTX)
    assert result == ToolResult.success({"order_id": "#W1", "city": "Austin", "by": "u1", "notify": True})


@pytest.mark.parametrize(
    ("arguments", "expected"),
    [
        ("{not json", "not valid JSON"),
        ({"order_id": "#W1", "address": {"city": "Austin", "zip": "ABCDE"}}, "address.zip"),
        ({"order_id": "#W1"}, "address: Field required"),
        ({"order_id": "#W1", "address": {"city": "A", "zip": "12345"}, "admin": True}, "admin"),
    ],
)
async def test_bad_arguments_are_an_invalid_result(arguments, expected):
    result = await ToolRegistry([update_address], FAST).run(tool_call("update_address", arguments), CTX)
    assert not result.ok and result.error == "invalid"
    assert expected in result.message


async def test_transient_failures_of_read_tools_are_retried():
    attempts = []

    @tool(backend="crm")
    def flaky_lookup(customer_id: str) -> dict:
        """Look up a customer."""
        attempts.append(customer_id)
        if len(attempts) < 3:
            raise TransientToolError("connection reset")
        return {"id": customer_id}

    result = await ToolRegistry([flaky_lookup], FAST).run(tool_call("flaky_lookup", {"customer_id": "42"}), CTX)
    assert result.ok and result.data == {"id": "42"}
    assert len(attempts) == 3


async def test_write_tools_are_never_retried():
    attempts = []

    @tool(backend="orders", writes=True)
    def cancel(order_id: str) -> dict:
        """Cancel an order."""
        attempts.append(order_id)
        raise TransientToolError("timeout after commit?")

    result = await ToolRegistry([cancel], FAST).run(tool_call("cancel", {"order_id": "#W1"}), CTX)
    assert result.error == "unavailable" and len(attempts) == 1


async def test_slow_tool_times_out_into_a_result():
    @tool(backend="slow")
    async def slow(q: str) -> str:
        """Never answers in time."""
        await asyncio.sleep(5)
        return q

    result = await ToolRegistry([slow], FAST).run(tool_call("slow", {"q": "x"}), CTX)
    assert result.error == "unavailable" and "temporarily unavailable" in result.message


async def test_breaker_opens_after_consecutive_failures_and_recovers():
    backend_up = False
    calls = []

    @tool(backend="inventory", writes=True)
    def stock(sku: str) -> int:
        """Units in stock."""
        calls.append(sku)
        if not backend_up:
            raise ConnectionError("inventory down")
        return 7

    registry = ToolRegistry([stock], FAST)
    now = [1000.0]
    registry._breakers["inventory"] = CircuitBreaker("inventory", 2, 30, clock=lambda: now[0])
    call = tool_call("stock", {"sku": "A"})

    assert (await registry.run(call, CTX)).error == "unavailable"
    assert (await registry.run(call, CTX)).error == "unavailable"
    assert registry.health() == {"inventory": "open"}
    await registry.run(call, CTX)
    assert len(calls) == 2, "an open circuit does not call the backend"

    now[0] += 31
    backend_up = True
    assert registry.health() == {"inventory": "half_open"}
    result = await registry.run(call, CTX)
    assert result.ok and result.data == 7
    assert registry.health() == {"inventory": "closed"}


def test_half_open_allows_one_trial_and_reopens_on_failure():
    now = [0.0]
    breaker = CircuitBreaker("b", failure_threshold=1, reset_s=10, clock=lambda: now[0])
    breaker.record_failure()
    assert breaker.state == "open" and not breaker.allow()
    now[0] = 10
    assert breaker.allow() and not breaker.allow(), "only one trial call while half-open"
    breaker.record_failure()
    assert breaker.state == "open"


async def test_search_knowledge_returns_citable_passages(shipped_kb):
    from tools.knowledge import knowledge_tools

    registry = ToolRegistry(knowledge_tools(shipped_kb), FAST)
    found = await registry.run(tool_call("search_knowledge", {"query": "how do I reset my password"}), CTX)
    assert found.ok and found.sources
    assert found.sources[0].source == "account-and-security.md"

    nothing = await registry.run(tool_call("search_knowledge", {"query": "quantum chromodynamics lecture notes"}), CTX)
    assert nothing.ok and not nothing.sources and "No help-centre article" in nothing.message
