"""`SupportAgent` runs one turn of a conversation and streams typed events.

It knows nothing about Chainlit: a UI consumes the events, a test asserts them.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import aclosing
from dataclasses import replace
from types import MappingProxyType

from agent import metrics
from agent.errors import AgentRuntimeError, ModelError
from agent.models.base import ChatModel
from agent.models.messages import (
    Message, ModelRequest, ModelResponse, ModelStreamEvent, ResponseComplete, Settled, TextChunk,
)  # fmt: skip
from agent.runner import confirmations
from agent.runner.conversation import Conversation, SourceBook
from agent.runner.events import (
    AgentEvent, CardSettled, Choices, Citation, ConfirmationRequested, ErrorEvent, Escalation, Sources, TextDelta,
    ToolCallStarted, ToolFinished, TurnDone, TurnStatus,
)  # fmt: skip
from agent.runner.prompt import system_prompt
from agent.settings import Settings
from knowledge.base import KnowledgeBase, merge
from knowledge.types import Passage
from knowledge.uploads import UploadLibrary
from tools.base import ToolContext, ToolResult
from tools.registry import ToolRegistry

log = logging.getLogger(__name__)

# Refusals of a message itself, shared by every channel and by the web adapter's socket guard.
EMPTY_REPLY = "Please type a question."
TOO_LONG_REPLY = "Your message is too long ({length} characters). Please keep it under {limit}."
MAX_STEPS_REPLY = (
    "I'm sorry, I couldn't finish working that out. Could you rephrase your question, "
    "or ask me to put you in touch with a human colleague?"
)
STOPPED_MARK = " [stopped]"
# Told to the model with a previewed write, once its card is on screen (the customer never reads it).
NOTHING_TO_WITHDRAW = "No change by {tool} is waiting for the customer's confirmation, so there is nothing to take back."
CONFIRM_HINT = (
    " The customer now sees this summary with Confirm and Cancel buttons. Ask them to check it and click "
    "Confirm; do not call the tool again for this action."
)
AccountLookup = Callable[[str], Awaitable[str | None]]  # signed-in identifier -> store customer id
Lookup = Callable[[], Awaitable[tuple[Passage, ...]]]  # the turn's retrieval, run when the model asks


class SupportAgent:
    def __init__(
        self,
        model: ChatModel,
        registry: ToolRegistry,
        knowledge: KnowledgeBase | None,
        settings: Settings,
        uploads: UploadLibrary | None = None,
        accounts: AccountLookup | None = None,
    ) -> None:
        self.model = model
        self.registry = registry
        self.knowledge = knowledge
        self.uploads = uploads
        self.settings = settings
        self.accounts = accounts

    async def run_turn(self, conversation: Conversation, user_text: str) -> AsyncIterator[AgentEvent]:
        """Answer one user message. Always ends with `TurnDone`, unless the task is cancelled."""
        text = user_text.strip()
        if problem := self._refusal(text):
            yield ErrorEvent("invalid_input", problem)
            yield TurnDone("", "rejected", reason="invalid_input")
            return
        conversation.add(Message.user(text))
        await self._identify(conversation)
        for expired in confirmations.drop_expired(conversation):
            yield expired
        book = SourceBook()
        lookup = None
        if getattr(self.model, "context_on_demand", False) and not conversation.uploads:
            # The offline engine reads passages only for questions, not for store requests or answers to its own
            # questions: the search (an embedding, Chroma, the ranking) runs when it asks. Uploads stay eager: a
            # question about a file is told by the file's passages.
            context: list[Passage] = []
            lookup = self._lookup(text, conversation, book)
        else:
            context = await self._retrieve(text, conversation)
            book.add(context)
        memory = self.settings.sessions
        messages = [Message.system(system_prompt(self.settings.app, context, conversation.summary))]
        messages += conversation.window(memory.memory_max_messages, memory.memory_max_tokens)
        reply: list[str] = []
        status: TurnStatus = "failed"
        try:
            async with aclosing(self._loop(conversation, messages, tuple(context), book, reply, lookup)) as loop:
                async for event in loop:
                    if isinstance(event, TurnDone):
                        status = event.status
                        continue
                    yield event
        except (AgentRuntimeError, TimeoutError) as exc:
            error = exc if isinstance(exc, AgentRuntimeError) else ModelError("timeout", "turn timeout")
            log.warning("turn failed in conversation %s: %s", conversation.id, error)
            if isinstance(error, ModelError):
                metrics.MODEL_ERRORS.labels(error.kind).inc()
            yield ErrorEvent(getattr(error, "kind", "runtime"), error.user_message)
        except Exception:
            log.exception("unexpected error in conversation %s", conversation.id)
            yield ErrorEvent("internal", AgentRuntimeError.user_message)
        finally:
            # Runs on cancellation too, so memory always holds what the customer saw.
            final = "".join(reply).strip()
            if status not in ("completed", "max_steps"):
                final += STOPPED_MARK if final else ""
            if final:
                conversation.add(Message.assistant(final))
        if cited := book.cited():
            yield Sources(tuple(Citation(n, p) for n, p in cited))
        yield TurnDone("".join(reply).strip(), status)

    def _refusal(self, text: str) -> str | None:
        limit = self.settings.chat.max_message_chars
        if not text:
            return EMPTY_REPLY
        if len(text) > limit:
            return TOO_LONG_REPLY.format(length=len(text), limit=limit)
        return None

    async def _loop(self, conversation: Conversation, messages: list[Message], context: tuple[Passage, ...],
                    book: SourceBook, reply: list[str], lookup: Lookup | None = None) -> AsyncIterator[AgentEvent]:
        """Model calls and tool rounds until a reply without tool calls; the last event is a `TurnDone`."""
        limits = self.settings.chat
        # A deadline, not asyncio.timeout() around the loop: a cancel scope must not span a yield.
        deadline = asyncio.get_running_loop().time() + limits.turn_timeout_s
        settled = tuple(Settled(tool, outcome) for tool, outcome in conversation.settled)  # type: ignore[arg-type]
        for step in range(limits.max_tool_steps):
            # Each request is a snapshot: its own copy of the messages and of the state.
            request = ModelRequest(tuple(messages), tuple(self.registry.specs()), context,
                                   MappingProxyType(conversation.dialogue), settled, limits.max_tool_steps - step,
                                   conversation.customer_id, lookup)
            settled = ()
            response = None
            async with aclosing(self.model.stream(request)) as stream:
                while (chunk := await _next(stream, deadline)) is not None:
                    if isinstance(chunk, TextChunk) and (shown := book.display(chunk.text)):
                        reply.append(shown)
                        yield TextDelta(shown)
                    elif isinstance(chunk, ResponseComplete):
                        response = chunk.response
            if response is None:
                raise ModelError("bad_response", "stream ended without a response")
            if settled:  # heard: a failed call would have left them for the next turn
                conversation.settled.clear()
            if response.state is not None:
                conversation.dialogue = response.state
            for retired in confirmations.withdraw(conversation, response.withdraw):
                yield retired
            if held := book.flush():
                reply.append(held)
                yield TextDelta(held)
            if not response.tool_calls:
                if response.choices:
                    yield Choices(response.choices)
                yield TurnDone("", "completed")
                return
            messages.append(Message.assistant(response.text, response.tool_calls))
            async with aclosing(self._run_tools(response, messages, book, conversation, deadline)) as tools:
                async for event in tools:
                    yield event
        log.warning("conversation %s hit the %d-step limit", conversation.id, limits.max_tool_steps)
        reply.append(("\n\n" if reply else "") + MAX_STEPS_REPLY)
        yield TextDelta(reply[-1])
        yield TurnDone("", "max_steps")

    def _lookup(self, text: str, conversation: Conversation, book: SourceBook) -> Lookup:
        found: list[tuple[Passage, ...]] = []

        async def lookup() -> tuple[Passage, ...]:
            if not found:  # once per turn, however many model calls ask
                found.append(tuple(await self._retrieve(text, conversation)))
                book.add(found[0])
            return found[0]

        return lookup

    async def _retrieve(self, text: str, conversation: Conversation) -> list[Passage]:
        searches = []
        if self.knowledge:
            searches.append(self._relevant_knowledge(text))
        if self.uploads and conversation.uploads:
            searches.append(asyncio.to_thread(self.uploads.search, conversation.id, text))
        found: list[list[Passage]] = []
        for search in searches:
            try:
                found.append(await search)
            except Exception:
                # A store outage must not stop the chat: the model can still use tools or hand over.
                log.exception("retrieval failed in conversation %s", conversation.id)
        return merge(*found, k=sum(map(len, found)))

    async def _relevant_knowledge(self, text: str) -> list[Passage]:
        assert self.knowledge is not None
        return self.knowledge.relevant(await self.knowledge.asearch(text))

    async def _identify(self, conversation: Conversation) -> None:
        """A signed-in customer is who the conversation acts for; nobody else can be identified in it."""
        if conversation.customer_id is None and conversation.user_id and self.accounts:
            try:
                conversation.customer_id = await self.accounts(conversation.user_id)
            except Exception:
                log.exception("account lookup failed in conversation %s", conversation.id)

    def _context(self, conversation: Conversation, confirmation: str | None = None) -> ToolContext:
        return ToolContext(conversation.id, conversation.user_id, conversation.customer_id, confirmation)

    async def _run_tools(
        self, response: ModelResponse, messages: list[Message], book: SourceBook, conversation: Conversation,
        deadline: float,
    ) -> AsyncIterator[AgentEvent]:
        for call in response.tool_calls:
            yield ToolCallStarted(call.id, call.name, call.arguments)
            async with asyncio.timeout_at(deadline):
                result = await self.registry.run(call, self._context(conversation))
            metrics.count_tool_call(call.name if call.name in self.registry else "unknown", result)
            if result.sources:  # numbered as the model will cite them
                refs = book.add(result.sources)
                passages = [{"ref": n, "title": p.citation, "text": p.text} for n, p in zip(refs, result.sources, strict=True)]
                result = replace(result, data=passages)
            # Only an anonymous conversation is bound by what the chat says; a signed-in one acts for
            # its own account (see _identify), never for whoever's email was typed.
            if result.identified and conversation.customer_id is None and conversation.user_id is None:
                conversation.customer_id = result.identified
                log.info("conversation %s now acts for customer %s", conversation.id, result.identified)
            spec = self.registry.spec(call.name)
            retired: list[CardSettled] = []
            if spec is not None and spec.withdraws and result.ok and result.withdrawn:
                retired = confirmations.withdraw(conversation, (result.withdrawn,))
                if not retired:
                    result = ToolResult.fail("invalid", NOTHING_TO_WITHDRAW.format(tool=result.withdrawn))
            yield ToolFinished(call.id, call.name, result)
            for settled in retired:  # the card's buttons go; a later click says it was taken back
                yield settled
            # What the tool declared it does: a write's preview becomes a card, a hand-over an escalation.
            if spec is not None and spec.writes and result.awaiting_confirmation:
                card = confirmations.request_confirmation(conversation, spec, call, result,
                                                          self.settings.store.confirmation_ttl_s)
                yield card
                for replaced in confirmations.replaced_cards(card):
                    yield replaced
                result = replace(result, message=result.message + CONFIRM_HINT)
            if spec is not None and spec.hands_over and result.ok:
                yield Escalation(reason=call.name, summary=result.message, ticket_id=result.ticket)
            messages.append(Message.tool(call, result))

    async def resolve_action(self, conversation: Conversation, token: str, approve: bool) -> AsyncIterator[AgentEvent]:
        """The customer clicked Confirm (`approve`) or Cancel on a card: apply the bound action once, or drop it.

        Memory records the click and the outcome, so the model knows what happened next turn.
        """
        reply, status = "", "completed"
        context = self._context(conversation, confirmation=token)
        async with aclosing(confirmations.resolve(self.registry, conversation, context, token, approve)) as events:
            async for event in events:
                if isinstance(event, TextDelta):
                    reply += event.text
                elif isinstance(event, ConfirmationRequested):
                    status = "failed"  # offered again: nothing happened yet
                yield event
        conversation.add(Message.assistant(reply))
        yield TurnDone(reply, status)  # type: ignore[arg-type]


async def _next(stream: AsyncIterator[ModelStreamEvent], deadline: float) -> ModelStreamEvent | None:
    async with asyncio.timeout_at(deadline):
        return await anext(stream, None)
