"""Several requests in one message, and cards the customer takes back (#12), below the dialogue level.

The scripted dialogues (agent/eval/data/dialogues_understanding.jsonl) run these through the real engine;
here the splitting and the retiring of cards are checked on their own, with a router by keyword.
"""

from __future__ import annotations

import time

from agent.offline.requests import pieces, split_requests
from agent.offline.router import Routing
from agent.runner import confirmations
from agent.runner.conversation import Conversation, PendingAction
from agent.offline.flows import cues

KEYWORDS = {"cancel": "cancel_order", "address": "modify_order", "where": "order_status", "receipt": "invoice",
            "return window": "policy_question", "return": "return_items"}


def by_keyword(texts: list[str]) -> list[Routing]:
    routed = []
    for text in texts:
        intent = next((i for word, i in KEYWORDS.items() if word in text.lower()), "out_of_scope")
        routed.append(Routing(intent, 0.9, "out_of_scope", 0.1, intent != "out_of_scope"))
    return routed


def test_an_address_keeps_its_commas_while_requests_are_cut_at_and():
    text = "Please cancel #W1001004 because I ordered it by mistake, and change the address of #W1001003 to 1 Elm St, Springfield, IL 62701"
    assert pieces(text) == ["Please cancel #W1001004 because I ordered it by mistake",
                            "change the address of #W1001003 to 1 Elm St, Springfield, IL 62701"]


def test_two_requests_in_order_each_with_its_own_words():
    found = split_requests("Where is my backpack, and can I return the keyboard", by_keyword)
    assert [(r.intent, r.text) for r in found] == [("order_status", "Where is my backpack"),
                                                   ("return_items", "can I return the keyboard")]


def test_a_reason_stays_with_its_request_and_leading_context_goes_to_all():
    found = split_requests("I moved to 1 Elm St. Cancel #W1001004, I ordered it by mistake. Also the address of "
                           "#W1001003 please", by_keyword)
    assert [r.intent for r in found] == ["cancel_order", "modify_order"]
    assert found[0].text.startswith("I moved to 1 Elm St.") and "by mistake" in found[0].text
    assert found[1].text.startswith("I moved to 1 Elm St.") and "by mistake" not in found[1].text


def test_one_request_naming_two_orders_is_one_per_order():
    found = split_requests("Cancel #W1001003 and #W1001004, I ordered both by mistake", by_keyword)
    assert [(r.intent, r.order_id) for r in found] == [("cancel_order", "#W1001003"), ("cancel_order", "#W1001004")]


def test_a_correction_or_a_single_request_is_not_several():
    assert split_requests("don't cancel it, cancel #W1001004 instead", by_keyword) == []
    assert split_requests("cancel #W1001004 because I ordered it by mistake", by_keyword) == []


def test_a_reason_said_of_it_is_not_a_request_even_when_it_reads_like_one():
    # Alone, "I don't need it anymore" reads like a return to the router; after a cancellation it is its reason.
    def router(texts: list[str]) -> list[Routing]:
        return [Routing("return_items", 0.6, "cancel_order", 0.2, True) if "need it" in t else r
                for t, r in zip(texts, by_keyword(texts), strict=True)]

    assert split_requests("Please cancel order #W1001004, I don't need it anymore", router) == []
    found = split_requests("Cancel #W1001004, and return it", router)
    assert [r.intent for r in found] == ["cancel_order", "return_items"]


def test_taking_back_is_told_from_correcting():
    for text in ("Don't cancel it", "forget the exchange, I'll keep them", "leave the address as it is",
                 "no exchange, I'll keep them", "keep the payment as it is"):
        assert cues.takes_back(text), text
    for text in ("don't cancel it, cancel #W1001004 instead", "cancel #W1001004", "where is my order"):
        assert not cues.takes_back(text), text


async def test_a_withdrawn_card_no_longer_applies():
    conversation = Conversation("c1", user_id=None)
    conversation.pending["t1"] = PendingAction("cancel_pending_order", {"order_id": "#W1001004"}, None, ("x",),
                                               time.time() + 60)
    conversation.pending["t2"] = PendingAction("modify_user_address", {}, None, ("y",), time.time() + 60)

    settled = confirmations.withdraw(conversation, ("cancel_pending_order",))

    assert [(s.token, s.outcome) for s in settled] == [("t1", "declined")]
    assert set(conversation.pending) == {"t2"}, "only the taken-back card goes"
    events = [e async for e in confirmations.resolve(None, conversation, None, "t1", approve=True)]  # type: ignore[arg-type]
    assert confirmations.WITHDRAWN_REPLY in [getattr(e, "text", None) for e in events]
