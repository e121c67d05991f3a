"""Several requests in one message: "Where is my backpack, and can I return the keyboard".

A message is cut where a new clause starts (a sentence end, or "and" / "also" / "plus" / a comma
before a request word), each piece is routed, and pieces that ask for nothing by themselves ("I
ordered both by mistake", an address's "Springfield, IL") stay with the request before them; what
comes before the first request ("I moved to 221 Pine Street.") is context for all of them. A piece
counts as a request when the router says so, or when its words name the request the router ranks
first among the shop's ("track #W1001002": short pieces are hard to classify). Two or more pieces
that start different requests become a queue (a policy question among them is answered on the way);
one request naming several orders ("cancel #W1001003 and #W1001004") becomes one per order. A piece
about "it" that names no request of its own ("I don't need it anymore") is the reason of the one before.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from agent.offline import entities, replies
from agent.offline.flows import cues
from agent.offline.intents import POLICY_QUESTION, STORE_FLOWS
from agent.offline.router import Routing
from agent.offline.state import DialogueState

# Flows that act on one order each: a request naming several orders is one request per order.
PER_ORDER = frozenset({"order_status", "cancel_order", "refund_status", "invoice"})
_REQUEST_WORD = (
    r"(?:can|could|would|will|please|pls|i|i'd|i'm|also|and|send|cancel|change|return|exchange|swap|track|where|"
    r"what|update|refund|get|give|email|make|switch|modify|check|tell|show)\b"
)
_BOUNDARY = re.compile(
    r"(?<=[.;!?])\s+|\n+"
    r"|,?\s+(?:and\s+also|and|also|plus|then)\s+(?=" + _REQUEST_WORD + r")"
    r"|,\s+(?=" + _REQUEST_WORD + r")",
    re.IGNORECASE,
)
_NOT_A_REQUEST = re.compile(r"\s*(don'?t|do not|no|not|never)\b", re.IGNORECASE)
# "refund to my gift card", "pay with PayPal": how the request before is paid or refunded, not a question.
_PAYMENT_DETAIL = re.compile(
    r"^\s*(please\s+)?(refund(ed)?( it| them)?|pay|charge|put( it| them)?|use|to|with|via|onto|on)\b.{0,30}"
    r"\b(gift ?cards?|store credit|pay ?pal|visa|master ?card|amex|card|original payment( method)?)\s*[.!]*\s*$",
    re.IGNORECASE,
)
_MAX_QUOTE = 60  # characters of a request quoted back when confirming what was understood


@dataclass(frozen=True)
class Request:
    intent: str
    text: str
    order_id: str | None = None

    def quote(self) -> str:
        text = self.text.strip(" ,.;!?")
        return text if len(text) <= _MAX_QUOTE else text[:_MAX_QUOTE].rsplit(" ", 1)[0] + "…"


def pieces(text: str) -> list[str]:
    return [piece.strip() for piece in _BOUNDARY.split(text) if piece and piece.strip(" ,.;!?")]


def split_requests(text: str, route: Callable[[list[str]], list[Routing]]) -> list[Request]:
    """The requests of a message, in order, when it makes two or more; else [] (one request, or none)."""
    parts = pieces(text)
    requests: list[Request] = []
    context: list[str] = []
    if len(parts) > 1:
        for part, routing in zip(parts, route(parts), strict=True):
            intent = None if requests and _follows(part) else _requested(part, routing)
            if intent and (not requests or intent != requests[-1].intent or entities.order_ids(part)):
                requests.append(Request(intent, part))
            elif requests:  # a detail or a reason of the request before ("because I ordered it by mistake")
                requests[-1] = Request(requests[-1].intent, f"{requests[-1].text}, {part}")
            else:
                context.append(part)
    if context and requests:
        requests = [Request(r.intent, " ".join([*context, r.text])) for r in requests]
    if len(requests) < 2:
        whole = route([text])[0]
        if not whole.in_scope or whole.intent not in PER_ORDER:
            return []
        requests = [Request(whole.intent, text)]
    found = [one for request in requests for one in _per_order(request)]
    return found if len(found) > 1 else []


def _follows(piece: str) -> bool:
    """A piece about the request before: how it is paid or refunded, or why, said of "it" without naming a
    request of its own ("cancel #W1001004, I don't need it anymore" is one cancellation, not a return)."""
    return bool(_PAYMENT_DETAIL.match(piece)) or (cues.refers_back(piece) and not cues.names_any(piece))


def _requested(piece: str, routing: Routing) -> str | None:
    if _NOT_A_REQUEST.match(piece):
        return None  # "don't cancel it, cancel #W1001004 instead" corrects one request
    if routing.in_scope and routing.clear and (routing.intent in STORE_FLOWS or routing.intent == POLICY_QUESTION):
        return routing.intent
    likeliest = routing.runner_up if routing.clear else routing.intent  # an unclear piece's guess is its intent
    if likeliest in STORE_FLOWS and cues.names(likeliest, piece):
        return likeliest
    return None


def _per_order(request: Request) -> list[Request]:
    ids = list(dict.fromkeys(entities.order_ids(request.text)))
    if request.intent not in PER_ORDER or len(ids) < 2:
        return [request]
    return [Request(request.intent, request.text, order_id) for order_id in ids]


def next_request(state: DialogueState, said: str) -> bool:
    """The request in progress is done, or waits only on its card: go on with the next queued one.

    `said` is the reply so far (this turn's notices included); it comes first, then the next request."""
    flow = state.flow
    if not state.queue or (flow is not None and not (flow.card and flow.awaiting in (None, "confirm"))):
        return False
    if flow is not None:
        state.park()
    state.turn["notices"] = [said]
    queued = state.queue.pop(0)
    state.notice(replies.NEXT_REQUEST.format(number=queued["number"],
                                             quote=Request(queued["intent"], queued["text"]).quote()))
    started = state.start(queued["intent"])
    started.hear(queued["text"])
    if queued.get("order_id"):
        started.fill("order_id", queued["order_id"])
    return True
