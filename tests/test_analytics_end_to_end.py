"""From conversation to number: conversations played through the chat service (scripted model, small tools, a
tagger), rated through the data layer, then read back by the analytics queries, on SQLite and PostgreSQL.

tests/test_analytics.py checks every definition on hand-written facts; this checks that what the service records
is what those definitions need: each number below follows from the five conversations played here.
"""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import update

from agent.chat.service import Customer
from agent.datalayer.analytics import AnalyticsQueries, CardStats
from agent.datalayer.analytics_gaps import GapQueries
from agent.datalayer.store_rows import users
from agent.models.scripted import ScriptedModel, call_tools, tool_call
from tests.datalayer_fixtures import chat_store, no_database_env  # noqa: F401 (fixtures)
from tests.facts_fixtures import CANCEL, CARS, HUMAN, RETURNS, Tagger, card_of, chat, click, send, visitor
from tests.workspace_fixtures import rate_last_step
from tools.store.sql import utcnow

LEAD = "lead.e2e@larkspurgoods.example"
DAY = timedelta(days=1)
AFTER_THE_WINDOW = timedelta(hours=25)  # every answer is then older than the 24 hours a customer may come back


async def test_numbers_of_conversations_played_through_the_chat_service(chat_store) -> None:
    store = chat_store
    model = ScriptedModel([
        "You have 30 days [1].",  # A: answered from the help centre, then 👍
        "I'm not sure, sorry.",  # B: a question it could not answer, then 👎
        call_tools(tool_call("hand_over", {"summary": "wants a person"})), "A colleague will follow up.",  # C
        call_tools(tool_call("cancel_order", {"order_id": "#W0000001"})), "Shall I cancel it?",  # D: a card
        "You have 30 days [1].",  # E: a lead trying the assistant, which never counts
    ])  # fmt: skip
    service = chat(store, model, tagger=Tagger())
    a, b, c, d = visitor(), visitor(), visitor(), visitor()
    lead = Customer("conv-lead-e2e", LEAD, "Lee")
    await store.ensure_user(LEAD, "Lee", {})
    async with store.engine.begin() as conn:
        await conn.execute(update(users).where(users.c.identifier == LEAD).values(role="lead"))

    start = utcnow()
    await send(service, a, RETURNS)
    await rate_last_step(store, a.conversation_id, 1)
    await send(service, b, CARS)
    await rate_last_step(store, b.conversation_id, 0)
    await send(service, c, HUMAN)
    card = card_of(await send(service, d, CANCEL))
    await click(service, d, card.token)
    await send(service, lead, RETURNS)
    await store.update_thread(lead.conversation_id, user_id=(await store.user_row(LEAD))["id"])

    since, until = start - DAY, utcnow() + DAY
    numbers = await AnalyticsQueries(store).summary(since, until, utcnow() + AFTER_THE_WINDOW)
    assert (numbers.conversations, numbers.customer_messages, numbers.answered) == (4, 4, 4)
    assert (numbers.resolved, numbers.pending, numbers.escalated) == (2, 0, 1)  # A and D; C handed over; B 👎
    assert numbers.resolution_rate == 0.5 and numbers.escalation_rate == 0.25
    assert (numbers.rated_up, numbers.rated_down, numbers.csat, numbers.rating_response_rate) == (1, 1, 0.5, 0.5)
    assert numbers.first_responses == 4 and 0 <= numbers.first_response_p50_ms <= numbers.first_response_p90_ms
    assert {(i.name, i.conversations, i.uses) for i in numbers.intents} == {
        ("policy_question", 1, 1), ("out_of_scope", 1, 1), ("human", 1, 1), ("cancel_order", 1, 1),
    }  # fmt: skip
    assert {(t.name, t.uses, t.failures) for t in numbers.tools} == {("hand_over", 1, 0), ("cancel_order", 2, 0)}
    assert numbers.cards == CardStats(shown=1, confirmed=1, declined=0, expired=0)

    # The same conversations the next hour: every answer is still inside its 24 hours, so pending, not resolved.
    numbers = await AnalyticsQueries(store).summary(since, until, utcnow() + timedelta(hours=1))
    assert (numbers.resolved, numbers.pending) == (0, 2)

    gaps = await GapQueries(store).questions(since, until, 10)
    assert [(gap.question, gap.kinds) for gap in gaps] == [(CARS, {"missed", "rated_down"})]
