"""Cues in a message's wording that the intent router doesn't weigh: is it a general question, a
follow-up, an insistence, an addition? Each is a small, explicit rule, kept apart from the decisions."""

from __future__ import annotations

import re
from collections.abc import Callable

from agent.offline import entities
from agent.offline.intents import (
    CANCEL_ORDER, EXCHANGE_ITEMS, MODIFY_ORDER, ORDER_STATUS, OUT_OF_SCOPE, POLICY_QUESTION, RETURN_ITEMS,
    UPDATE_ADDRESS,
)  # fmt: skip
from agent.offline.router import Routing

NAMING_MARGIN = 0.05  # intents closer than this are told apart by the word the customer used
CORRECTION_WORDS = 4  # "no, the other one", "actually, order ...": a detail, not a new request
# "return the headphones to my gift card": a command naming a store request goes ahead though held back as
# too close to out of scope, when the request's probability leads out of scope's by this much.
COMMAND_LEAD = 0.35


def _says(pattern: str) -> Callable[[str], bool]:
    compiled = re.compile(pattern, re.I)
    return lambda text: bool(compiled.search(text))


_HOW_TO = r"^\s*(how|what|when|why|where|which|can|could|do|does|is|are|will|should|may)\b"
_asks_generally = _says(_HOW_TO)
_personal = _says(r"\b(my|mine|me)\b|#?\bW\d{7}\b")
_points_back = _says(r"\b(it|this|that)( order)?\b")
question = _says(r"\?\s*$|^\s*(how|what|when|why|where|which|who|can|could|do|does|is|are|will)\b")
follows_up = _says(r"^\s*(and|what about|how about|also|same for)\b")  # "And for exchanges?"
insists = _says(r"\b(insist|still want|anyway|anyhow|regardless|but i want|i need (it|this) (done|returned))\b")
calls_off = _says(r"^\s*(cancel|stop|abort|don'?t)( it| that| this)?[.!]*\s*$")  # while a card waits
# Taking a request back while its card waits: "don't cancel it", "I'll keep the headphones after all",
# "leave the address as it is". Not "don't cancel it, cancel #W1001004 instead": that corrects the order.
_TAKES_BACK = _says(
    r"\b(don'?t|do not)\b.{0,20}\b(cancel|change|return|exchange|swap|do (it|that)|bother)\b"
    r"|\b(i'?ll|i will|i'?d rather|let me|we'?ll) keep\b|\bkeep (it|them|the \w+)( as (it is|they are)| after all)"
    r"|\bleave (it|them|the( \w+){1,2}) (as (it is|they are)|alone)\b|^\s*no (exchange|return|cancell?ation|change)\b"
)
_INSTEAD = _says(r"\binstead\b")


def takes_back(text: str) -> bool:
    return _TAKES_BACK(text) and not entities.order_ids(text) and not _INSTEAD(text)


adds = _says(r"\b(too|also|as well|and the)\b")  # "the keyboard too": more items, not other items
lost = _says(r"\b(lost|stolen)\b")  # a lost parcel is a claim the help centre explains, then its order
_CHANGE_WORD = _says(r"\b(change|modify|update)\b")
_SEND_TO = _says(r"\b(send|ship|deliver)\b")  # "please send my order to 5 Elm Road, ...": a new address
# A command that starts with the request's verb and points at something definite: "return the headphones".
_COMMAND = _says(
    r"^\s*(please\s+)?(return|exchange|swap|cancel|track|change|modify|update|send)\s+(the|this|these|those|both)\b"
)
_NAMED = {
    ORDER_STATUS: _says(r"\b(track|where('?s| is) my|status|lost|stolen)\b"),
    EXCHANGE_ITEMS: _says(r"\b(exchange|swap|replace|(different|wrong) (size|colou?r))"),
    RETURN_ITEMS: _says(r"\b(return|send (it |them )?back)"),
    CANCEL_ORDER: _says(r"\bcancel"),
    MODIFY_ORDER: lambda text: _CHANGE_WORD(text) or (_SEND_TO(text) and entities.address(text) is not None),
    UPDATE_ADDRESS: _says(r"\b(change|update|modify|correct|fix)\b.{0,30}\baddress|\bnew address\b"),
}
# A button that leads into a request after a policy answer; its text routes to that request.
OFFERS = {
    "order_status": "Where is my order?",
    "cancel_order": "Cancel an order",
    "return_items": "I want to return an item",
}


_OWN_DETAILS = _says(
    r"\b(on (my|the) account|on file|my email|my (default |shipping )?address|my payment methods?|"
    r"address is (my )?order|order .{0,12}(going|shipping|ship) to|where will .{0,20}ship)\b"
)
_CHANGES = _says(r"\b(change|update|modify|switch|set|new|move|moved|replace|remove|delete|add)\b")
# "Can I change the shipping address after my order has been processed?": about a rule, not an order.
_HYPOTHETICAL = _says(r"^\s*(can|could|is it possible)\b.*\b(after|once|if|when)\b.*\b(has been|have been|is|was|gets?)\b")


def asks_own_details(text: str) -> bool:
    """A question about the customer's own records ("what payment methods do I have on file?"), not a change."""
    return question(text) and _OWN_DETAILS(text) and not _CHANGES(text)


def hypothetical(text: str) -> bool:
    return _HYPOTHETICAL(text) and not entities.order_ids(text)


def names(intent: str, text: str) -> bool:
    """The message names this request in words ("return", "cancel", "track"), not only near it in meaning."""
    return intent in _NAMED and _NAMED[intent](text)


def names_any(text: str) -> bool:
    """The message names some request in words."""
    return any(named(text) for named in _NAMED.values())


def how_to(text: str) -> bool:
    """A general question ("how long do refunds take?"), not about the customer's own order."""
    return _asks_generally(text) and not _personal(text)


_NAMED[POLICY_QUESTION] = how_to  # "what's the status of W1001004" asks about an order, not a policy
_ORDER = _says(r"\border(ed)?\b")


def refers_back(text: str) -> bool:
    """"Cancel it": the order of the request before."""
    return _points_back(text) and not entities.order_ids(text)


def new_request(text: str) -> bool:
    """Long enough to ask for something new: "actually, order #W1001004" only corrects a detail."""
    return len(entities.without_identifiers(text).split()) > CORRECTION_WORDS


def disambiguate(routing: Routing, text: str) -> str:
    """Two requests scored alike ("exchange" reads close to "return"): the one the message names wins.
    A request held back as too close to out of scope goes ahead if it names itself and an order
    ("cancel the hoodie order", unlike "cancel my gym membership")."""
    named = routing.runner_up in _NAMED and _NAMED[routing.runner_up](text)
    if not routing.in_scope:
        held_back = routing.intent == OUT_OF_SCOPE and routing.runner_up_score > routing.score
        ordered = _ORDER(text) or bool(entities.order_ids(text))
        # One of our order ids with the request's own word ("track #W1001002") is ours, however short.
        ours = bool(entities.order_ids(text))
        commanded = _COMMAND(text) and routing.runner_up_score - routing.score >= COMMAND_LEAD
        return routing.runner_up if named and ((ordered and (held_back or ours)) or commanded) else routing.intent
    close = routing.score - routing.runner_up_score < NAMING_MARGIN
    if close and named and not (routing.intent in _NAMED and _NAMED[routing.intent](text)):
        return routing.runner_up
    return routing.intent


def held_back_request(routing: Routing, text: str) -> str | None:
    """The store request a message names in words ("actually, just return the headphones instead") when the
    router held it back as too close to out of scope: mid-flow, such a message is a request, not noise."""
    if routing.in_scope or routing.intent != OUT_OF_SCOPE or routing.runner_up_score <= routing.score:
        return None
    return routing.runner_up if names(routing.runner_up, text) else None


def offer(routing: Routing, text: str) -> str | None:
    """After a policy answer, a button to start the request the question was about, if it names one.

    The router's two likeliest intents say what the question is near; the wording says it is about
    that request ("how long do I have to return an item?"), not merely close to it."""
    for intent in (routing.intent, routing.runner_up):
        if intent in OFFERS and _NAMED[intent](text):
            return OFFERS[intent]
    return None
