"""Dialogue acts on an open flow, decided before any slot is filled: the customer takes the request
back, or corrects one of its details ("sorry, I meant the white battery-powered one")."""

from __future__ import annotations

from agent.offline import entities, replies
from agent.offline.flows import cues
from agent.offline.flows.base import Context, Reply
from agent.offline.flows.slots import corrects
from agent.offline.intents import OUT_OF_SCOPE, STORE_FLOWS
from agent.offline.router import Routing
from agent.offline.state import DialogueState, Flow

SHORT_ANSWER_WORDS = 4  # "yes", "ok go ahead": a bare answer; longer messages may change something


def called_off(state: DialogueState, flow: Flow, text: str) -> Reply | None:
    """"Never mind", or the request taken back while its card waits: everything stops, the cards retire.
    A typed "yes" to a card is not a click."""
    retired = [flow.card or "", *state.parked_cards]
    if entities.never_mind(text):
        state.retire(*retired)
        state.drop_all()
        return Reply(replies.DROPPED)
    answer = entities.yes_no(text) if len(text.split()) <= SHORT_ANSWER_WORDS else None
    if flow.card and answer:
        return Reply(replies.CONFIRM_BUTTON)
    if flow.card and (answer is False or cues.calls_off(text) or cues.takes_back(text)):
        state.retire(*retired)
        state.drop_all()
        return Reply(replies.CARD_DROPPED)
    return None


def changed_slots(ctx: Context, text: str) -> list[str]:
    """The flow's filled slots to which the message gives another value ("order #W1001004"); changes nothing."""
    return [slot for slot, value in list(ctx.flow.slots.items())
            if (found := corrects(ctx, slot, text)) is not None and found != value]


def corrects_flow(ctx: Context, text: str) -> bool:
    """A correction ("sorry, I meant the headphones from #W1001001") that gives one of the open flow's
    details another value: it corrects this request, however much it reads like another one."""
    return entities.correction(text) and bool(changed_slots(ctx, text))


def other_request(flow: Flow, routing: Routing, text: str, intent: str) -> str:
    """Mid-flow, a message the router held back that names another request in words ("actually, just
    return the headphones instead", while choosing an exchange's variant) is that request."""
    held = cues.held_back_request(routing, text) if intent == OUT_OF_SCOPE else None
    return held if held in STORE_FLOWS and held != flow.intent else intent
