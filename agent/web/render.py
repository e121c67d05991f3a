"""Show the chat service's events on the Chainlit page: streamed replies, tool steps, cards and buttons.

Everything is shown in the order it happened: the reply message is created when its first words
arrive, after the tool steps that fed it (a message's time decides its place when a thread reloads).
"""

from __future__ import annotations

import asyncio
import logging
import time

import chainlit as cl
from chainlit.utils import utc_now

from agent.chat.history import tool_output, tool_step_id
from agent.runner.events import (
    AgentEvent, CardSettled, Choices, ConfirmationRequested, ErrorEvent, Escalation, Notice, Sources, TextDelta,
    ToolCallStarted, ToolFinished, TurnDone,
)  # fmt: skip

log = logging.getLogger(__name__)

CONFIRM_ACTION = "confirm_action"
DECLINE_ACTION = "decline_action"
CHOICE_ACTION = "choice_action"
CHOICES_KEY = "choices"  # user-session key: buttons shown per message id (server state, never the click's word)


def source_elements(event: Sources) -> list[cl.Text]:
    """Side elements for the passages; Chainlit links each name in the sources line to its element."""
    return [cl.Text(name=f"[{c.ref}] {c.passage.citation}", content=c.passage.text, display="side")
            for c in event.citations]


class TurnView:
    """One turn on the page. `reply_id` is the id the service records the reply under.

    The reply's first words go out at once; later words are sent at most every `stream_interval_s`, the ones
    in between together. Each send is a socket.io message the server encodes and the page renders: word by
    word, a hundred chats streaming at once spend more on sending than on answering. Words held back go when
    their interval ends even if no more words come (the turn's writes may still take a while).
    """

    def __init__(self, reply_id: str, stream_interval_s: float = 0.0) -> None:
        self.reply_id = reply_id
        self.stream_interval_s = stream_interval_s
        self.reply: cl.Message | None = None
        self.steps: dict[str, cl.Step] = {}
        self._held: list[str] = []  # words not sent yet
        self._sent_at: float | None = None
        self._due: asyncio.TimerHandle | None = None  # the held words' send when their interval ends
        self._due_send: asyncio.Task | None = None
        self._sending = asyncio.Lock()  # one send at a time, so the page gets the words in order

    async def _stream(self, text: str) -> None:
        self._held.append(text)
        wait = 0.0 if self._sent_at is None else self._sent_at + self.stream_interval_s - time.monotonic()
        if wait <= 0:
            await self._flush()
        elif self._due is None:
            self._due = asyncio.get_running_loop().call_later(wait, self._send_due)

    def _send_due(self) -> None:
        self._due = None
        self._due_send = asyncio.ensure_future(self._flush())  # a task keeps the turn's Chainlit context

    async def _flush(self) -> None:
        if self._due is not None:
            self._due.cancel()
            self._due = None
        async with self._sending:
            if self._held:
                text, self._held = "".join(self._held), []
                self._sent_at = time.monotonic()
                await self._reply().stream_token(text)

    def _reply(self) -> cl.Message:
        if self.reply is None:  # created now, so it sorts after the steps that came before it
            self.reply = cl.Message(content="", id=self.reply_id)
        return self.reply

    async def show(self, event: AgentEvent) -> None:
        if isinstance(event, TextDelta):
            await self._stream(event.text)
            return
        if isinstance(event, TurnDone):
            return  # nothing to show; `close` sends what is held with the whole reply
        await self._flush()  # whatever comes next is shown after the words before it
        if isinstance(event, ToolCallStarted):
            # Under the current run, beside the reply: a step without a parent would sit after the whole run.
            run = cl.context.current_step
            step = cl.Step(name=event.name, type="tool", show_input="json", parent_id=run.id if run else None,
                           id=tool_step_id(self.reply_id, event.call_id))  # the id the service records it under
            step.input = event.arguments
            self.steps[event.call_id] = step
            await step.send()
        elif isinstance(event, ToolFinished):
            await self._finish_step(event)
        elif isinstance(event, Sources):
            reply = self._reply()
            reply.elements = source_elements(event)
            reply.content += event.line
        elif isinstance(event, Choices):
            reply = self._reply()
            reply.actions = choice_buttons(reply.id, event.options)
            cl.user_session.set(CHOICES_KEY, {**(cl.user_session.get(CHOICES_KEY) or {}), reply.id: event.options})
        elif isinstance(event, ConfirmationRequested):
            for token in event.replaces:  # a replaced card could only answer "replaced": hide its buttons
                await remove_card_buttons(token)
            await confirmation_card(event).send()
        elif isinstance(event, CardSettled):
            # A settled card keeps no buttons: a click took them already, but a card the customer took back
            # in words ("don't cancel it") still shows them until now.
            await remove_card_buttons(event.token)
        elif isinstance(event, Escalation):
            await cl.Message(content=event.summary, author="Support team").send()
        elif isinstance(event, Notice):
            await cl.Message(content=event.text, id=event.id).send()
        elif isinstance(event, ErrorEvent):
            await cl.ErrorMessage(content=event.message).send()

    async def _finish_step(self, event: ToolFinished) -> None:
        step = self.steps.pop(event.call_id, None)
        if step is None:
            return
        step.output = tool_output(event.result)
        # A previewed write waiting for the customer's click is not an error.
        step.is_error = not event.result.ok and not event.result.awaiting_confirmation
        step.end = utc_now()
        await step.update()

    async def close(self) -> None:
        if self._due is not None:
            self._due.cancel()
            self._due = None
        if self._due_send is not None:  # its words go before the final send
            try:
                await self._due_send
            except Exception:  # the final send below carries the whole text anyway
                log.warning("reply %s: streaming held words failed", self.reply_id, exc_info=True)
        if self._held:  # the final send carries the whole text: no separate send for the last words
            self._reply().content += "".join(self._held)
            self._held = []
        if self.reply is not None and (self.reply.content or self.reply.actions):
            await self.reply.send()


def confirmation_card(event: ConfirmationRequested) -> cl.Message:
    """The exact action and its effect, with Confirm / Cancel bound to the token (ids let us remove both)."""
    lines = "\n".join(f"- {line}" for line in event.summary)
    payload = {"token": event.token}
    actions = [
        cl.Action(name=CONFIRM_ACTION, payload=payload, label="Confirm", icon="check", id=f"{event.token}-yes"),
        cl.Action(name=DECLINE_ACTION, payload=payload, label="Cancel", icon="x", id=f"{event.token}-no"),
    ]
    return cl.Message(content=f"**Please confirm this change:**\n{lines}", actions=actions)


async def remove_card_buttons(token: str, for_id: str = "") -> None:
    for suffix, name in (("yes", CONFIRM_ACTION), ("no", DECLINE_ACTION)):
        await cl.Action(name=name, payload={}, id=f"{token}-{suffix}", forId=for_id).remove()


def choice_buttons(message_id: str, options: tuple[str, ...]) -> list[cl.Action]:
    """One button per quick reply; ids derive from the message so a click can remove them all."""
    return [cl.Action(name=CHOICE_ACTION, payload={"value": option}, label=option, id=f"{message_id}-choice-{i}")
            for i, option in enumerate(options)]


async def take_choice(action: cl.Action) -> str | None:
    """The option a quick-reply click chose, once; its message's buttons go. None for a stale or forged click.

    How many buttons there were comes from what this session showed, never from the click's payload.
    """
    shown: dict[str, tuple[str, ...]] = cl.user_session.get(CHOICES_KEY) or {}
    options = shown.pop(action.forId, None)
    cl.user_session.set(CHOICES_KEY, shown)
    if options is None:
        return None
    for i in range(len(options)):
        await cl.Action(name=CHOICE_ACTION, payload={}, id=f"{action.forId}-choice-{i}", forId=action.forId).remove()
    value = str(action.payload.get("value", ""))
    return value if value in options else None
