"""Cues in a message's wording that the intent router doesn't weigh: is it a general question, a
follow-up, an insistence, an addition? Each is a small, explicit rule, kept apart from the decisions."""

from __future__ import annotations

import re

from agent.dialogue import entities
from agent.dialogue.intents import CANCEL_ORDER, EXCHANGE_ITEMS, MODIFY_ORDER, POLICY_QUESTION, RETURN_ITEMS
from agent.dialogue.router import Routing

NAMING_MARGIN = 0.05  # intents closer than this are told apart by the word the customer used
CORRECTION_WORDS = 4  # "no, the other one", "actually, order ...": a detail, not a new request
_HOW_TO = re.compile(r"^\s*(how|what|when|why|where|which|can|could|do|does|is|are|will|should|may)\b", re.I)
_PERSONAL = re.compile(r"\b(my|mine|me)\b|#?\bW\d{7}\b", re.I)
_QUESTION = re.compile(r"\?\s*$|^\s*(how|what|when|why|where|which|who|can|could|do|does|is|are|will)\b", re.I)
_FOLLOW_UP = re.compile(r"^\s*(and|what about|how about|also|same for)\b", re.I)
_REFERS_BACK = re.compile(r"\b(it|this|that)( order)?\b", re.I)
_INSIST = re.compile(
    r"\b(insist|still want|anyway|anyhow|regardless|but i want|i need (it|this) (done|returned))\b", re.I
)
_ADDING = re.compile(r"\b(too|also|as well|and the)\b", re.I)
_NAMED = {
    EXCHANGE_ITEMS: re.compile(r"\b(exchange|swap|replace|different (size|colou?r))", re.I),
    RETURN_ITEMS: re.compile(r"\b(return|send (it |them )?back)", re.I),
    CANCEL_ORDER: re.compile(r"\bcancel", re.I),
    MODIFY_ORDER: re.compile(r"\b(change|modify|update)\b", re.I),
    POLICY_QUESTION: _HOW_TO,
}
# A button that leads into a request after a policy answer; its text routes to that request.
OFFERS = {
    "order_status": "Where is my order?",
    "cancel_order": "Cancel an order",
    "return_items": "I want to return an item",
}


def how_to(text: str) -> bool:
    """A general question ("how long do refunds take?"), not about the customer's own order."""
    return bool(_HOW_TO.search(text)) and not _PERSONAL.search(text)


def question(text: str) -> bool:
    return bool(_QUESTION.search(text))


def follows_up(text: str) -> bool:
    """"And for exchanges?": continues the previous question."""
    return bool(_FOLLOW_UP.search(text))


def refers_back(text: str) -> bool:
    """"Cancel it": the order of the request before."""
    return bool(_REFERS_BACK.search(text)) and not entities.order_ids(text)


def insists(text: str) -> bool:
    return bool(_INSIST.search(text))


def adds(text: str) -> bool:
    """"The keyboard too": more items, not other items."""
    return bool(_ADDING.search(text))


def new_request(text: str) -> bool:
    """Long enough to ask for something new: "actually, order #W1001004" only corrects a detail."""
    return len(entities.without_identifiers(text).split()) > CORRECTION_WORDS


def disambiguate(routing: Routing, text: str) -> str:
    """Two requests scored alike ("exchange" reads close to "return"): the one the message names wins."""
    close = routing.in_scope and routing.score - routing.runner_up_score < NAMING_MARGIN
    if close and routing.runner_up in _NAMED and _NAMED[routing.runner_up].search(text):
        if not (routing.intent in _NAMED and _NAMED[routing.intent].search(text)):
            return routing.runner_up
    return routing.intent


def offer(routing: Routing, threshold: float) -> str | None:
    """After a policy answer, a button to start the request the question was about, if any."""
    for intent, score in ((routing.intent, routing.score), (routing.runner_up, routing.runner_up_score)):
        if intent in OFFERS and score >= threshold:
            return OFFERS[intent]
    return None
