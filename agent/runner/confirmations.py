"""Confirmation cards: a previewed write bound to a token, and what a click on it does.

The model never sees a token. Only the customer's click carries it back, and it applies the exact
arguments the card showed, for the customer the card was made for, once.
"""

from __future__ import annotations

import json
import secrets
import time
import uuid
from collections.abc import AsyncIterator

from agent import metrics
from agent.runner.conversation import Conversation, PendingAction
from agent.runner.events import (
    AgentEvent, CardOutcome, CardSettled, ConfirmationRequested, Escalation, TextDelta, ToolCallStarted, ToolFinished,
)  # fmt: skip
from agent.models.messages import Message
from tools.base import ToolCall, ToolContext, ToolResult, ToolSpec
from tools.registry import ToolRegistry

DECLINED_REPLY = "All right, I've dropped that request. Nothing has been changed."
SUPERSEDED_REPLY = "That request was replaced by a newer one, so nothing was changed. Use the latest card."
WITHDRAWN_REPLY = "You took that request back, so nothing was changed."
EXPIRED_REPLY = "That confirmation has expired, so nothing was changed. Ask me again if you still want it done."
RESOLVED_KEEP = 20  # outcomes remembered for repeated clicks on old cards
# A click's outcome as the card's fate. A confirmed action the tool then refused ("failed": the order changed
# since the preview) was not applied, and the customer did not cancel it: the card had gone stale, as if expired.
CARD_FATES: dict[str, CardOutcome] = {
    "applied": "confirmed", "declined": "declined", "expired": "expired", "failed": "expired",
}  # fmt: skip


def request_confirmation(conversation: Conversation, spec: ToolSpec, call: ToolCall, result: ToolResult,
                         ttl_s: float) -> ConfirmationRequested:
    """Bind a previewed write to a fresh token; a newer card for the same record replaces older ones."""
    token = secrets.token_urlsafe(18)
    arguments = json.loads(call.arguments or "{}")
    target = arguments.get(spec.acts_on) if spec.acts_on else None
    # A corrected item or another refund method makes a new card: only the one the customer saw last applies.
    replaced = tuple(
        old for old, pending in conversation.pending.items()
        if pending.tool == call.name and (pending.arguments.get(spec.acts_on) if spec.acts_on else None) == target
    )
    for old in replaced:
        conversation.resolve(old, SUPERSEDED_REPLY, RESOLVED_KEEP)
    summary = tuple(result.summary)
    conversation.pending[token] = PendingAction(call.name, arguments, conversation.customer_id, summary,
                                                time.time() + ttl_s)
    return ConfirmationRequested(token, call.name, summary, replaced)


def replaced_cards(card: ConfirmationRequested) -> list[CardSettled]:
    """The older cards a new one superseded: they expired (a click on one only says it was replaced)."""
    return [CardSettled(token, card.tool, "expired") for token in card.replaces]


def drop_expired(conversation: Conversation) -> list[CardSettled]:
    """Forget cards past their time; returns them, expired."""
    now = time.time()
    dropped = [(t, action.tool) for t, action in conversation.pending.items() if action.expires_at < now]
    for token, _ in dropped:
        conversation.resolve(token, EXPIRED_REPLY, RESOLVED_KEEP)
    return [CardSettled(token, tool, "expired") for token, tool in dropped]


def withdraw(conversation: Conversation, tools: tuple[str, ...]) -> list[CardSettled]:
    """Retire the waiting cards of `tools`: the customer took the request back, so a later click changes nothing."""
    taken_back = [(t, action.tool) for t, action in conversation.pending.items() if action.tool in tools]
    for token, _ in taken_back:
        conversation.resolve(token, WITHDRAWN_REPLY, RESOLVED_KEEP)
    return [CardSettled(token, tool, "declined") for token, tool in taken_back]


async def resolve(registry: ToolRegistry, conversation: Conversation, context: ToolContext, token: str,
                  approve: bool) -> AsyncIterator[AgentEvent]:
    """Apply the card's action once (`approve`), or drop it. The reply comes as `TextDelta`s, after a `CardSettled`
    saying what became of the card (none for a repeated click); a card offered again (the store was unavailable,
    the action stays valid) means nothing happened."""
    conversation.add(Message.user("[clicked Confirm]" if approve else "[clicked Cancel]"))
    action = conversation.pending.get(token)
    if action is None:
        outcome, reply = "repeated", conversation.resolved.get(token, EXPIRED_REPLY)
    elif action.expires_at < time.time() or action.customer_id != conversation.customer_id:
        outcome, reply = "expired", EXPIRED_REPLY
    elif not approve:
        outcome, reply = "declined", DECLINED_REPLY
    else:
        call = ToolCall(f"confirm-{uuid.uuid4().hex[:12]}", action.tool, json.dumps(action.arguments))
        yield ToolCallStarted(call.id, call.name, call.arguments)
        result = await registry.run(call, context)
        metrics.count_tool_call(call.name if call.name in registry else "unknown", result)
        yield ToolFinished(call.id, call.name, result)
        if result.error == "unavailable":
            # The action stays valid: a fresh card lets the customer try again.
            yield TextDelta(result.message)
            yield ConfirmationRequested(token, action.tool, action.summary)
            return
        outcome = "applied" if result.ok else "failed"
        reply = (result.message or "Done.") if result.ok else f"I couldn't do that: {result.message} Nothing has been changed."
        spec = registry.spec(call.name)
        if result.ok and spec is not None and spec.hands_over:
            yield Escalation(reason=call.name, summary=result.message, ticket_id=result.ticket)
    if action is not None:
        conversation.resolve(token, reply, RESOLVED_KEEP)
        conversation.settled.append((action.tool, outcome))  # the model hears of it with the next message
        yield CardSettled(token, action.tool, CARD_FATES[outcome])
    yield TextDelta(reply)
