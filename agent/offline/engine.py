"""The offline dialogue engine: a `ChatModel` that runs support tasks end to end without an LLM.

The orchestrator drives it like any model: a customer message in, then either tool calls (whose
results come back in role="tool" messages, and the engine is called again) or a reply with quick
replies. Between turns, everything it knows lives in `request.state`, persisted with the conversation.

Per message: route it (one embedding call), then, in order: let the customer leave ("never mind");
keep typed "yes" from confirming a card; hand over on request; answer a general question from the help
centre (and go back to the open question); take up a policy refusal's alternative, or hand over if the
customer insists; switch to a new request (but a correction of the open flow's details, "sorry, I meant
the headphones from #W1001001", corrects it); fill or correct the open flow's slots; start a flow; small
talk; say what's out of scope. Two messages in a row not understood bring a colleague in.
"""

from __future__ import annotations

import asyncio
import copy
import json
from collections.abc import AsyncIterator

from agent.offline import entities, replies
from agent.offline.flows import FLOWS, MY_DETAILS, cues
from agent.offline.flows.acts import called_off, changed_slots, corrects_flow, other_request
from agent.errors import DialogueError
from agent.offline.flows.base import Call, Context, Reply, Step, Switched, pick
from agent.offline.flows.handover import HANDOVER, REASON_ASKED, REASON_NOT_UNDERSTOOD, REASON_POLICY, escalate
from agent.offline.flows.observe import observe
from agent.offline.flows.slots import NEW_ITEM, find, forget, named_variants, reject, variants_for
from agent.offline.intents import (
    GOODBYE, GREETING, HUMAN, INFORM, ORDER_STATUS, OUT_OF_SCOPE, POLICY_QUESTION, PRODUCT_INFO, THANKS,
)  # fmt: skip
from agent.offline.requests import Request, next_request, pieces, split_requests
from agent.offline.router import IntentRouter, Routing
from agent.offline.state import DialogueState, Flow
from agent.models.base import stream_text
from agent.models.messages import Message, ModelRequest, ModelResponse, ModelStreamEvent, Settled
from tools.base import ToolCall
from agent.offline.answerer import ExtractiveAnswerer
from agent.settings import AppSettings, Settings
from knowledge.embedder import Embedder
from knowledge.glossary import Glossary

MAX_MISSES = 2  # messages in a row not understood before a colleague takes over


class DialogueEngine:
    name = "dialogue"
    context_on_demand = True  # most turns are store requests: the help centre is searched only when asked

    def __init__(self, router: IntentRouter, answerer: ExtractiveAnswerer, app: AppSettings,
                 stream_words: int = 1) -> None:
        self.router = router
        self.stream_words = stream_words
        self.answerer = answerer  # the extractive help-centre answerer, for policy questions
        self.app = app

    @classmethod
    def from_settings(cls, embedder: Embedder, settings: Settings) -> DialogueEngine:
        router = IntentRouter.from_settings(embedder, settings.offline)
        answerer = ExtractiveAnswerer(embedder, settings.offline, settings.app,
                                      Glossary.load(settings.knowledge.glossary_path))
        return cls(router, answerer, settings.app, settings.offline.stream_words)

    async def complete(self, request: ModelRequest) -> ModelResponse:
        # The request's state is read-only: the new state goes back in the response.
        state = DialogueState(copy.deepcopy(dict(request.state)))
        state.data["account"] = request.customer_id  # who a hand-over summary names, even before any lookup
        if request.messages and request.messages[-1].role == "tool":
            step = self._after_tools(request, state)
        else:
            step = await self._on_message(request, state)
        return self._respond(step, state, request)

    async def stream(self, request: ModelRequest) -> AsyncIterator[ModelStreamEvent]:
        async for event in stream_text(await self.complete(request), self.stream_words):
            yield event

    # --- a customer message ---------------------------------------------------------------------
    async def _on_message(self, request: ModelRequest, state: DialogueState) -> Step:
        text = request.last_user_text
        state.new_turn()
        state.turn["after_answer"] = state.data.pop("answered", False)
        state.turn["offered"] = state.data.pop("offered", None)
        state.hear(text)
        for settled in request.settled:
            _settle_card(state, settled)
        routing = await asyncio.to_thread(self.route, text)
        if (flow := state.flow) is not None:
            flow.hear(text)
        step = await self._decide(request, state, text, routing)
        if not state.turn.get("missed"):
            state.misses = 0
        return step

    def route(self, text: str) -> Routing:
        """The message's intent; blocks: embeds (concurrent conversations share the embedder's passes)."""
        return self.router.route(text)

    async def _decide(self, request: ModelRequest, state: DialogueState, text: str, routing: Routing) -> Step:
        flow, intent = state.flow, cues.disambiguate(routing, text)
        if flow is not None and (step := called_off(state, flow, text)) is not None:
            return step
        if flow is not None:
            intent = other_request(flow, routing, text, intent)
        if intent == HUMAN:
            return self._escalate(state, REASON_ASKED, "the customer asked for a person")
        if flow is None and (bare := entities.bare_answer(text)):
            return await self._bare_answer(request, state, bare)
        # A click or an answer to the question on screen beats its routing ("PayPal" reads like a policy question).
        # ...unless the message starts another request by name ("I want to return the headphones from my last
        # order", asked which order to check): the new request, not an answer that happens to name an order.
        switching = flow is not None and intent in FLOWS and intent != flow.intent and cues.names(intent, text)
        answering = flow is not None and not switching and not cues.how_to(text) and self._answers(state, flow, text)
        general = intent == POLICY_QUESTION or (intent in FLOWS and intent != PRODUCT_INFO and cues.how_to(text))
        general = general or (flow is None and intent == ORDER_STATUS and cues.lost(text)) or cues.hypothetical(text)
        if flow is None and cues.asks_own_details(text):
            return self._start(state, MY_DETAILS, text)  # read like a change ("my address"), changes nothing
        # A question about a file the customer attached is answered from that file, whatever it sounds like.
        general = general or (any(p.origin == "upload" for p in request.context) and cues.question(text))
        follow_up = state.turn.get("after_answer") and cues.follows_up(text)
        if not answering and not general and self._may_be_several(text) and (
                several := await asyncio.to_thread(self._several, text)):
            return await self._queue(request, state, several)
        if not answering and (general or follow_up):
            # A general question, even one about a request ("how long do I have to return?"): the help centre.
            if (answer := await self._knowledge(request, text)) is not None:
                state.data["answered"] = True
                if flow is None and (offer := cues.offer(routing, text)):
                    state.data["offered"] = offer
                    return Reply(answer, (offer,))
                return self._resume(state, answer)
            if intent == POLICY_QUESTION or follow_up:
                return self._resume(state, self.answerer.dont_know())
        if flow is not None:
            if flow.refused and (step := self._after_refusal(state, flow, text, intent)):
                return step
            correcting = not switching and corrects_flow(Context(state, flow, self.app), text)
            if intent in FLOWS and intent != flow.intent and cues.new_request(text) and not (answering or correcting):
                return self._start(state, intent, text)
            if self._fills(state, flow, text, intent):
                return self._plan(state)
        if intent in FLOWS:
            return self._start(state, intent, text)
        if intent == INFORM:
            return self._start(state, ORDER_STATUS, text)  # a bare order number: say where it is
        if intent in (GREETING, THANKS, GOODBYE):
            return self._small_talk(state, intent)
        understood = routing.known
        if intent == OUT_OF_SCOPE and understood and routing.score >= routing.runner_up_score:
            return self._resume(state, replies.for_shop(replies.OUT_OF_SCOPE, self.app))  # clearly not ours
        # Unclear: the help centre may still know ("my package is lost"); else say what we do, then hand over.
        if (answer := await self._knowledge(request, text)) is not None:
            return self._resume(state, answer)
        if understood:
            return self._resume(state, replies.for_shop(replies.OUT_OF_SCOPE, self.app))
        return self._missed(state, text)

    def _answers(self, state: DialogueState, flow: Flow, text: str) -> bool:
        """Does the message answer the question on screen (a button, or a value for the awaited slot)?"""
        ctx = Context(state, flow, self.app)
        slot = flow.awaiting
        if slot is None or slot == "confirm":
            return False
        if flow.options and pick(text, flow.options) is not None:
            return True
        if slot == "identity":
            return any(find(ctx, s, text) is not None for s in ("email", "name", "zip"))
        if slot.startswith(NEW_ITEM) and named_variants(variants_for(ctx, slot[len(NEW_ITEM):]), text):
            return True  # "the white one" of two white lamps: the choice narrows to those two
        return find(ctx, slot, text) is not None

    def _fills(self, state: DialogueState, flow: Flow, text: str, intent: str) -> bool:
        """Does the message answer the flow's question, or correct one of its slots? Corrected slots are
        cleared here, so the plan fills them again from this message."""
        if self._answers(state, flow, text):
            return True  # a button's label may also read like other details ("white" is a keyboard's option)
        ctx = Context(state, flow, self.app)
        changed = changed_slots(ctx, text)
        for slot in changed:
            if slot == "item_ids" and cues.adds(text):
                flow.fill(slot, list(dict.fromkeys([*flow.get(slot), *find(ctx, slot, text)])))
            else:
                forget(ctx, slot)
        if changed or (entities.correction(text) and reject(ctx)):
            flow.refused = None
            if flow.card:  # the card on screen shows what was corrected: it must not apply any more
                state.retire(flow.card)
                flow.card = None
            return True
        return intent == INFORM

    def _after_refusal(self, state: DialogueState, flow: Flow, text: str, intent: str) -> Step | None:
        """Policy said no: take the alternative offered, insist (a colleague decides), or move on."""
        picked = pick(text, flow.options)
        if picked == "human":
            return self._escalate(state, REASON_POLICY, f"{flow.refused}; the customer asked for a person")
        if picked in FLOWS:
            Context(state, flow, self.app).switch(picked, ("order_id",))
            return self._plan(state)
        if entities.order_ids(text):
            return None  # another order: a correction, not insistence
        insisting = intent == flow.intent or cues.insists(text) or entities.yes_no(text) is True
        if insisting and not cues.how_to(text):
            return self._escalate(state, REASON_POLICY, f"{flow.refused}; the customer insists")
        if entities.yes_no(text) is False:
            state.end()
            return Reply(replies.ANYTHING_ELSE)
        return None

    @staticmethod
    def _may_be_several(text: str) -> bool:
        """Whether the message may hold several requests: two pieces or two orders. Checked on the event loop,
        so a one-piece message (most of them) does not wait for a worker thread to be told it is one."""
        return len(pieces(text)) >= 2 or len(entities.order_ids(text)) >= 2

    def _several(self, text: str) -> list[Request]:
        """The message's requests when it makes several (blocks: routes its pieces)."""
        return split_requests(text, self.router.route_many)

    async def _queue(self, request: ModelRequest, state: DialogueState, requests: list[Request]) -> Step:
        """Say what was understood, answer its questions, start the first request and keep the rest for when
        it is done or waits on its card."""
        numbered = [f"({n}) “{r.quote()}”" for n, r in enumerate(requests, 1)]
        state.notice(replies.SEVERAL.format(numbered=", ".join(numbered[:-1]) + " and " + numbered[-1]))
        queue = []
        for number, r in enumerate(requests, 1):
            if r.intent == POLICY_QUESTION:
                answer = await self._knowledge(request, r.text)
                state.notice(f"({number}) {answer or self.answerer.dont_know()}")
            else:
                queue.append({"intent": r.intent, "text": r.text, "order_id": r.order_id, "number": number})
        if not queue:
            return Reply("\n\n".join(state.notices()))
        first, state.data["queue"] = queue[0], queue[1:]
        return self._start(state, first["intent"], first["text"], first["order_id"])

    def _start(self, state: DialogueState, intent: str, text: str, order_id: str | None = None) -> Step:
        """A new request; identification stays. "Cancel it" after another request keeps that order."""
        old = state.flow
        if order_id is None and old is not None and cues.refers_back(text):
            order_id = old.get("order_id")
        if old is not None:
            state.remember(f"left {old.intent} for {intent}")
            if old.intent != intent:
                state.notice(replies.SET_ASIDE.format(doing=replies.DOING.get(old.intent, "your request"),
                                                      next=replies.DOING.get(intent, "your new request")))
        flow = state.start(intent)
        flow.hear(text)
        if order_id:
            flow.fill("order_id", order_id)
        return self._plan(state)

    def _plan(self, state: DialogueState) -> Call | Reply:
        # Each switch moves to another flow and none switches back; each queued request runs once.
        for _ in range(len(FLOWS) * (2 + len(state.queue))):
            flow = state.flow
            if flow is None:
                return Reply(state.notices()[0] if state.notices() else replies.ANYTHING_ELSE)
            step = FLOWS[flow.intent](Context(state, flow, self.app))
            if isinstance(step, Reply) and next_request(state, step.text):
                continue
            if not isinstance(step, Switched):
                return step
        raise DialogueError(f"flows kept switching, last to {state.flow.intent if state.flow else None}")

    async def _knowledge(self, request: ModelRequest, text: str) -> str | None:
        """The help centre's cited answer, or None when it has none (below the answerer's threshold)."""
        context = await request.passages()
        if not context:
            return None
        if (unread := self.answerer.unread_upload(text, context)) is not None:
            return unread  # the customer names a file that was not read: say so, never quote another file
        return await asyncio.to_thread(self.answerer.answer, text, context)

    async def _bare_answer(self, request: ModelRequest, state: DialogueState, answer: str) -> Step:
        """A lone "yes" / "no" / "ok" with no task open: it answers whatever was said last."""
        offered = state.turn.get("offered")
        if answer == "yes" and offered:  # typed instead of clicking the offered button
            return await self._decide(request, state, offered, await asyncio.to_thread(self.route, offered))
        if answer == "no" and not offered:  # to "anything else?": the chat is over
            return self._small_talk(state, GOODBYE)
        return Reply(replies.ANYTHING_ELSE)

    def _small_talk(self, state: DialogueState, intent: str) -> Step:
        if intent == GOODBYE:
            state.end()
            return Reply(replies.for_shop(replies.GOODBYE, self.app))
        if intent == THANKS:
            return self._resume(state, replies.THANKS if state.flow is None else replies.WELCOME)
        if state.flow is None:
            return Reply(replies.for_shop(replies.GREETING, self.app), replies.STARTERS)
        return self._resume(state, replies.HELLO_AGAIN)

    def _resume(self, state: DialogueState, text: str) -> Reply:
        """An aside answered; then back to the flow's open question, with its buttons."""
        flow = state.flow
        if flow is None:
            return Reply(text)
        if flow.card:
            return Reply(f"{text}\n\n{replies.CARD_WAITING}")
        if not flow.prompt:
            return Reply(text)
        back = replies.BACK_TO.format(doing=replies.DOING.get(flow.intent, "your request"))
        return Reply(f"{text}\n\n{back} {flow.prompt}", tuple(flow.choices))

    def _missed(self, state: DialogueState, text: str) -> Step:
        state.turn["missed"] = True
        state.misses += 1
        if state.handed_over and not (state.flow and state.flow.prompt):
            # A colleague already has it: repeating the whole hand-over on every unclear message helps nobody.
            return Reply(replies.STILL_WITH_COLLEAGUE, replies.STARTERS)
        if state.misses >= MAX_MISSES:
            return self._escalate(state, REASON_NOT_UNDERSTOOD, "I could not understand the customer twice in a row")
        flow = state.flow
        if flow is not None and flow.prompt:
            sorry = replies.ADDRESS_UNCLEAR if flow.awaiting == "address" else replies.NOT_UNDERSTOOD
            return Reply(f"{sorry} {flow.prompt}", (*flow.choices, replies.TALK_TO_PERSON))
        if cues.question(text):
            sorry = self.answerer.dont_know()
        else:
            sorry = replies.for_shop(replies.NOT_UNDERSTOOD_HERE, self.app)
        return Reply(sorry, (*replies.STARTERS, replies.TALK_TO_PERSON))

    def _escalate(self, state: DialogueState, reason: str, why: str) -> Step:
        return escalate(state, reason, why, state.said)

    # --- tool results ---------------------------------------------------------------------------
    def _after_tools(self, request: ModelRequest, state: DialogueState) -> Step:
        specs = {spec.name: spec for spec in request.tools}
        for message in _results(request.messages):
            assert message.call is not None and message.result is not None
            observe(state, specs.get(message.call.name), message.call, message.result)
        if state.turn.get("unavailable"):
            return Reply(replies.for_shop(replies.UNAVAILABLE_NOW, self.app), (replies.TALK_TO_PERSON,))
        if "escalating" in state.turn:
            state.end()
            handed, why = state.turn.get("escalated"), replies.HANDOVER_WHY.get(state.turn["escalating"], "")
            if not handed:
                return Reply(replies.for_shop(replies.ESCALATION_FAILED, self.app))
            state.handed_over, state.misses = True, 0
            return Reply(replies.HANDED_OVER.format(why=why, message=handed))
        return self._plan(state)

    def _respond(self, step: Step, state: DialogueState, request: ModelRequest) -> ModelResponse:
        # Retired before this response's tool calls run, so a corrected card's replacement stays.
        withdraw = state.retiring()
        if isinstance(step, Reply):
            return ModelResponse(text=step.text, choices=step.choices, finish_reason="stop", state=state.data,
                                 withdraw=withdraw)
        if request.calls_left <= 1:
            # The runner allows no more model calls this turn, so no tool round: pause, carry on at a click.
            flow = state.flow
            if flow is not None:
                flow.ask("continue", replies.CONTINUE, {replies.KEEP_GOING: True})
            return ModelResponse(text=replies.CONTINUE, choices=(replies.KEEP_GOING,), finish_reason="stop",
                                 state=state.data, withdraw=withdraw)
        roles = {HANDOVER: next((spec.name for spec in request.tools if spec.hands_over), HANDOVER)}
        offered = {spec.name for spec in request.tools}
        if any(roles.get(name, name) not in offered for name, _ in step.calls):
            # A tool this deployment leaves out (TOOLS_ENABLED): say so once, rather than plan it again and again.
            state.end()
            return ModelResponse(text=replies.for_shop(replies.NOT_OFFERED, self.app), finish_reason="stop",
                                 state=state.data, withdraw=withdraw)
        calls = []
        for name, arguments in step.calls:
            number = int(state.data.get("calls", 0)) + 1
            state.data["calls"] = number
            calls.append(ToolCall(f"dialogue_{number}", roles.get(name, name), json.dumps(arguments)))
        return ModelResponse(tool_calls=tuple(calls), finish_reason="tool_calls", state=state.data, withdraw=withdraw)


def _settle_card(state: DialogueState, settled: Settled) -> None:
    """A click on a card happened since the last message: close the flow it belonged to."""
    if settled.outcome == "applied":
        state.forget_store()
    state.remember(f"{settled.tool}: {settled.outcome}")
    flow = state.flow
    if flow is not None and flow.card == settled.tool:
        state.end()
    else:
        state.settle_parked(settled.tool)


def _results(messages: tuple[Message, ...]) -> list[Message]:
    """The tool messages answering the latest tool calls, in call order (each carries its call)."""
    latest: list[Message] = []
    for message in reversed(messages):
        if message.role != "tool":
            break
        latest.append(message)
    return latest[::-1]
