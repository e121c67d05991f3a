"""Confirmation cards in the conversation facts: shown once per card, then confirmed, declined or expired (too
late, dropped, replaced by a newer card, or refused by the tool when confirmed), through the chat service."""

from __future__ import annotations

import pytest

from agent.models.scripted import ScriptedModel, call_tools, tool_call
from agent.runner.events import CardSettled
from tests.datalayer_fixtures import database, no_database_env  # noqa: F401 (fixtures)
from tests.facts_fixtures import (  # noqa: F401 (store: a fixture)
    BASE, CANCEL, card_of, chat, click, facts_of, send, store, visitor,
)  # fmt: skip
from tests.postgres import pg_schema  # noqa: F401 (fixture)


def cancel_script(*orders: str, then: tuple[str, ...] = ()) -> ScriptedModel:
    replies: list = []
    for order in orders:
        replies += [call_tools(tool_call("cancel_order", {"order_id": order})), "Please confirm."]
    return ScriptedModel([*replies, *then])


@pytest.mark.parametrize(("approve", "fate"), [(True, "cards_confirmed"), (False, "cards_declined")])
async def test_a_card_shown_then_clicked(store, approve, fate):
    who = visitor()
    service = chat(store, cancel_script("#W0000001"))
    card = card_of(await send(service, who, CANCEL))
    events = await click(service, who, card.token, approve)
    assert [e for e in events if isinstance(e, CardSettled)] == [
        CardSettled(card.token, "cancel_order", "confirmed" if approve else "declined")]
    again = await click(service, who, card.token, approve)  # a double click settles nothing more
    assert not [e for e in again if isinstance(e, CardSettled)]

    facts = await facts_of(store, who.conversation_id)
    assert facts["counts"] == BASE | {"turns": 1, "cards_shown": 1, fate: 1, "outcome": "answered"}
    runs = 2 if approve else 1  # the preview, then the confirmed run
    assert facts["items"] == {("intent", "cancel_order"): (1, 0), ("tool", "cancel_order"): (runs, 0)}


async def test_cards_that_expire_are_counted_once(store):
    who = visitor()
    service = chat(store, cancel_script("#W0000001", "#W0000002", then=("Hello!",)), ttl_s=1e-9)
    first = card_of(await send(service, who, CANCEL))
    late = await click(service, who, first.token)  # too late
    assert [e.outcome for e in late if isinstance(e, CardSettled)] == ["expired"]
    card_of(await send(service, who, "cancel #W0000002"))  # left unclicked, dropped at the next message
    await send(service, who, "hi")

    facts = await facts_of(store, who.conversation_id)
    assert facts["counts"] == BASE | {"turns": 3, "cards_shown": 2, "cards_expired": 2, "outcome": "answered"}


async def test_a_replaced_card_expires_and_the_newer_one_is_confirmed(store):
    who = visitor()
    service = chat(store, cancel_script("#W0000001", "#W0000001"))
    first = card_of(await send(service, who, CANCEL))
    events = await send(service, who, "cancel it, really")
    second = card_of(events)
    assert second.replaces == (first.token,)
    assert [e for e in events if isinstance(e, CardSettled)] == [CardSettled(first.token, "cancel_order", "expired")]
    await click(service, who, first.token)  # says it was replaced: nothing more to count
    await click(service, who, second.token)

    facts = await facts_of(store, who.conversation_id)
    assert facts["counts"] == BASE | {"turns": 2, "cards_shown": 2, "cards_expired": 1, "cards_confirmed": 1,
                                      "outcome": "answered"}  # fmt: skip


async def test_a_card_offered_again_after_an_outage_is_one_card(store):
    who = visitor()
    service = chat(store, cancel_script("#W0000001"))
    card = card_of(await send(service, who, CANCEL))
    breaker = service.agent.registry.breaker("default")
    for _ in range(breaker.failure_threshold):
        breaker.record_failure()
    assert card_of(await click(service, who, card.token)).token == card.token
    breaker.record_success()
    await click(service, who, card.token)

    facts = await facts_of(store, who.conversation_id)
    # The click during the outage ended "failed": an error; the card was shown once and confirmed once.
    assert facts["counts"] == BASE | {"turns": 1, "cards_shown": 1, "cards_confirmed": 1, "errors": 1,
                                      "outcome": "error"}  # fmt: skip


async def test_a_confirmed_card_the_tool_refuses_is_not_confirmed(store):
    who = visitor()
    service = chat(store, cancel_script("#W0000009"))
    card = card_of(await send(service, who, "cancel #W0000009"))
    events = await click(service, who, card.token)
    assert [e.outcome for e in events if isinstance(e, CardSettled)] == ["expired"]

    facts = await facts_of(store, who.conversation_id)
    assert facts["counts"] == BASE | {"turns": 1, "cards_shown": 1, "cards_expired": 1, "outcome": "answered"}
    assert facts["items"][("tool", "cancel_order")] == (2, 1)
