"""The chat service's typed events as JSON: one dict per event (the SSE stream sends each, the JSON reply lists
them), and what a whole turn said. A confirmation card is named by an id derived from its token, never by the
token itself: the token stays the click's secret, and a card id alone confirms nothing without its owner's
sign-in."""

from __future__ import annotations

import hashlib
import re
from typing import Any

from agent.chat.history import tool_output
from agent.runner.events import (
    AgentEvent, CardSettled, Choices, ConfirmationRequested, ErrorEvent, Escalation, Notice, Sources, TextDelta,
    ToolCallStarted, ToolFinished, TurnDone,
)  # fmt: skip

CARD_ID_CHARS = 32


def card_id(token: str) -> str:
    return hashlib.sha256(b"card\x00" + token.encode()).hexdigest()[:CARD_ID_CHARS]


def event_dict(event: AgentEvent) -> dict[str, Any]:
    match event:
        case TextDelta(text=text):
            return {"type": "text_delta", "text": text}
        case ToolCallStarted(call_id=call_id, name=name, arguments=arguments):
            return {"type": "tool_call", "call_id": call_id, "name": name, "arguments": arguments}
        case ToolFinished(call_id=call_id, name=name, result=result):
            return {"type": "tool_result", "call_id": call_id, "name": name, "ok": result.ok,
                    "error": result.error, "output": tool_output(result)}  # fmt: skip
        case Sources(citations=citations):
            return {"type": "sources", "sources": [
                {"ref": c.ref, "citation": c.passage.citation, "score": round(c.passage.score, 4)} for c in citations]}
        case ConfirmationRequested(token=token, tool=tool, summary=summary, replaces=replaces):
            card = {"id": card_id(token), "tool": tool, "summary": list(summary)}
            return {"type": "confirmation_request", "card": card, "replaces": [card_id(old) for old in replaces]}
        case CardSettled(token=token, tool=tool, outcome=outcome):
            return {"type": "card_settled", "card_id": card_id(token), "tool": tool, "outcome": outcome}
        case Choices(options=options):
            return {"type": "choices", "options": list(options)}
        case Escalation(reason=reason, summary=summary, ticket_id=ticket_id):
            return {"type": "escalation", "reason": reason, "summary": summary, "ticket_id": ticket_id}
        case Notice(id=notice_id, text=text):
            return {"type": "notice", "id": notice_id, "text": text}
        case ErrorEvent(kind=kind, message=message):
            return {"type": "error", "kind": kind, "message": message}
        case TurnDone(status=status, reason=reason, retry_after_s=retry_after_s):
            return {"type": "done", "status": status, "reason": reason, "retry_after_s": retry_after_s}
    raise TypeError(f"not an agent event: {event!r}")


def turn_result(conversation_id: str, events: list[dict[str, Any]]) -> dict[str, Any]:
    """A TurnResult body from a turn's events (in order)."""
    done = next((e for e in reversed(events) if e["type"] == "done"), {"status": "failed"})
    said = {"text_delta": "{text}", "notice": "\n\n{text}\n\n", "error": "\n\n{message}\n\n"}
    text = [said[e["type"]].format(**e) for e in events if e["type"] in said]
    tickets = [e["ticket_id"] for e in events if e["type"] == "escalation" and e["ticket_id"]]
    return {
        "conversation_id": conversation_id, "status": done["status"],
        "reply": re.sub(r"\n{3,}", "\n\n", "".join(text)).strip(),
        "cards": [e["card"] for e in events if e["type"] == "confirmation_request"],
        "choices": [option for e in events if e["type"] == "choices" for option in e["options"]],
        "ticket_id": tickets[-1] if tickets else None, "events": events,
    }  # fmt: skip
