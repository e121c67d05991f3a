"""`SupportAgent` runs one turn of a conversation and streams typed events.

It knows nothing about Chainlit: a UI consumes the events, a test asserts them.
"""

from __future__ import annotations

import asyncio
import json
import logging
import secrets
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import aclosing

from agent.runner.conversation import Conversation, PendingAction, SourceBook
from agent.errors import AgentRuntimeError, ModelError
from agent.runner.events import (
    AgentEvent,
    Choices,
    Citation,
    ConfirmationRequested,
    ErrorEvent,
    Escalation,
    Sources,
    TextDelta,
    ToolCallStarted,
    ToolFinished,
    TurnDone,
    TurnStatus,
)
from agent.models.base import ChatModel
from agent.models.messages import (
    Message,
    ModelRequest,
    ModelResponse,
    ModelStreamEvent,
    ResponseComplete,
    TextChunk,
    ToolCall,
)
from agent.runner.prompt import system_prompt
from agent.settings import Settings
from knowledge.base import KnowledgeBase, merge
from knowledge.uploads import UploadLibrary
from knowledge.types import Passage
from tools.base import ToolContext, ToolResult
from tools.registry import ToolRegistry

log = logging.getLogger(__name__)

MAX_STEPS_REPLY = (
    "I'm sorry, I couldn't finish working that out. Could you rephrase your question, "
    "or ask me to put you in touch with a human colleague?"
)
STOPPED_MARK = " [stopped]"
CONFIRM_HINT = (
    " The customer now sees this summary with Confirm and Cancel buttons. Ask them to check it and click "
    "Confirm; do not call the tool again for this action."
)
DECLINED_REPLY = "All right, I've dropped that request. Nothing has been changed."
SUPERSEDED_REPLY = "That request was replaced by a newer one, so nothing was changed. Use the latest card."
EXPIRED_REPLY = "That confirmation has expired, so nothing was changed. Ask me again if you still want it done."
RESOLVED_KEEP = 20  # outcomes remembered for repeated clicks on old cards
AccountLookup = Callable[[str], Awaitable[str | None]]  # signed-in identifier -> store customer id


class SupportAgent:
    def __init__(
        self,
        model: ChatModel,
        registry: ToolRegistry,
        knowledge: KnowledgeBase | None,
        settings: Settings,
        escalation_tools: frozenset[str] = frozenset(),
        uploads: UploadLibrary | None = None,
        accounts: AccountLookup | None = None,
    ) -> None:
        self.model = model
        self.registry = registry
        self.knowledge = knowledge
        self.uploads = uploads
        self.settings = settings
        self.escalation_tools = escalation_tools
        self.accounts = accounts

    async def run_turn(self, conversation: Conversation, user_text: str) -> AsyncIterator[AgentEvent]:
        """Answer one user message. Always ends with `TurnDone`, unless the task is cancelled."""
        limits = self.settings.chat
        text = user_text.strip()
        if not text or len(text) > limits.max_message_chars:
            message = (
                "Please type a question." if not text
                else f"Your message is too long ({len(text)} characters). Please keep it under {limits.max_message_chars}."
            )
            yield ErrorEvent("invalid_input", message)
            yield TurnDone("", "rejected")
            return

        conversation.add(Message.user(text))
        await self._identify(conversation)
        _drop_expired(conversation)
        book = SourceBook()
        context = await self._retrieve(text, conversation)
        book.add(context)
        memory = self.settings.sessions
        messages = [Message.system(system_prompt(self.settings.app, context, conversation.summary))]
        messages += conversation.window(memory.memory_max_messages, memory.memory_max_tokens)

        # A deadline, not asyncio.timeout() around the loop: a cancel scope must not span a yield.
        deadline = asyncio.get_running_loop().time() + limits.turn_timeout_s
        reply: list[str] = []
        status: TurnStatus = "failed"
        try:
            for _ in range(limits.max_tool_steps):
                response = None
                request = ModelRequest(messages, self.registry.specs(), context, conversation.dialogue)
                async with aclosing(self.model.stream(request)) as stream:
                    while (chunk := await _next(stream, deadline)) is not None:
                        if isinstance(chunk, TextChunk) and (shown := book.display(chunk.text)):
                            reply.append(shown)
                            yield TextDelta(shown)
                        elif isinstance(chunk, ResponseComplete):
                            response = chunk.response
                if response is None:
                    raise ModelError("bad_response", "stream ended without a response")
                if held := book.flush():
                    reply.append(held)
                    yield TextDelta(held)
                if not response.tool_calls:
                    status = "completed"
                    if response.choices:
                        yield Choices(response.choices)
                    break
                messages.append(Message.assistant(response.text, response.tool_calls))
                async for event in self._run_tools(response, messages, book, conversation, deadline):
                    yield event
            else:
                status = "max_steps"
                log.warning("conversation %s hit the %d-step limit", conversation.id, limits.max_tool_steps)
                reply.append(("\n\n" if reply else "") + MAX_STEPS_REPLY)
                yield TextDelta(reply[-1])
        except (AgentRuntimeError, TimeoutError) as exc:
            error = exc if isinstance(exc, AgentRuntimeError) else ModelError("timeout", "turn timeout")
            log.warning("turn failed in conversation %s: %s", conversation.id, error)
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

        cited = book.cited()
        if cited:
            yield Sources(tuple(Citation(n, p) for n, p in cited))
        yield TurnDone("".join(reply).strip(), status)

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
            content = result.for_model()
            if result.sources:
                refs = book.add(result.sources)
                data = [{"ref": n, "title": p.citation, "text": p.text} for n, p in zip(refs, result.sources, strict=True)]
                content = json.dumps({"ok": True, "passages": data}, ensure_ascii=False)
            # Only an anonymous conversation is bound by what the chat says; a signed-in one acts for
            # its own account (see _identify), never for whoever's email was typed.
            if result.identified and conversation.customer_id is None and conversation.user_id is None:
                conversation.customer_id = result.identified
                log.info("conversation %s now acts for customer %s", conversation.id, result.identified)
            yield ToolFinished(call.id, call.name, result)
            if result.error == "needs_confirmation":
                content = json.dumps({**json.loads(content), "message": result.message + CONFIRM_HINT}, default=str)
                yield self._request_confirmation(conversation, call, result)
            messages.append(Message.tool(call, content))
            if result.ok and call.name in self.escalation_tools:
                yield Escalation(reason=call.name, summary=result.message)

    def _request_confirmation(self, conversation: Conversation, call: ToolCall, result: ToolResult) -> AgentEvent:
        token = secrets.token_urlsafe(18)
        arguments = json.loads(call.arguments or "{}") if isinstance(call.arguments, str) else dict(call.arguments)
        summary = tuple(result.summary)
        expires = time.time() + self.settings.store.confirmation_ttl_s
        # A newer card for the same action on the same record replaces the older one (a corrected
        # item, another refund method): only the card the customer saw last can apply.
        replaced = tuple(
            old for old, pending in conversation.pending.items()
            if pending.tool == call.name and pending.arguments.get("order_id") == arguments.get("order_id")
        )
        for old in replaced:
            conversation.resolve(old, SUPERSEDED_REPLY, RESOLVED_KEEP)
        conversation.pending[token] = PendingAction(call.name, arguments, conversation.customer_id, summary, expires)
        return ConfirmationRequested(token, call.name, summary, replaced)

    async def resolve_action(self, conversation: Conversation, token: str, approve: bool) -> AsyncIterator[AgentEvent]:
        """The customer clicked Confirm (`approve`) or Cancel on a card: apply the bound action once, or drop it.

        Memory records the click and the outcome, so the model knows what happened next turn.
        """
        conversation.add(Message.user("[clicked Confirm]" if approve else "[clicked Cancel]"))
        action = conversation.pending.get(token)
        if action is None:
            outcome, reply = "repeated", conversation.resolved.get(token, EXPIRED_REPLY)
        elif action.expires_at < time.time() or action.customer_id != conversation.customer_id:
            outcome, reply = "expired", EXPIRED_REPLY
        elif not approve:
            outcome, reply = "declined", DECLINED_REPLY
        else:
            call = ToolCall(f"confirm-{uuid.uuid4().hex[:12]}", action.tool, json.dumps(action.arguments))
            yield ToolCallStarted(call.id, call.name, call.arguments)
            result = await self.registry.run(call, self._context(conversation, confirmation=token))
            yield ToolFinished(call.id, call.name, result)
            if result.error == "unavailable":
                reply = result.message  # the action stays valid: a fresh card lets the customer try again
                conversation.add(Message.assistant(reply))
                yield TextDelta(reply)
                yield ConfirmationRequested(token, action.tool, action.summary)
                yield TurnDone(reply, "failed")
                return
            if result.ok:
                outcome, reply = "applied", result.message or "Done."
            else:
                outcome, reply = "failed", f"I couldn't do that: {result.message} Nothing has been changed."
            if result.ok and call.name in self.escalation_tools:
                yield Escalation(reason=call.name, summary=result.message)
        if action is not None:
            conversation.resolve(token, reply, RESOLVED_KEEP)
            # What became of the card, for a model that keeps dialogue state (it may close its flow).
            conversation.dialogue["last_action"] = {"tool": action.tool, "outcome": outcome}
        conversation.add(Message.assistant(reply))
        yield TextDelta(reply)
        yield TurnDone(reply, "completed")


def _drop_expired(conversation: Conversation) -> None:
    now = time.time()
    for token in [t for t, action in conversation.pending.items() if action.expires_at < now]:
        conversation.resolve(token, EXPIRED_REPLY, RESOLVED_KEEP)


async def _next(stream: AsyncIterator[ModelStreamEvent], deadline: float) -> ModelStreamEvent | None:
    async with asyncio.timeout_at(deadline):
        return await anext(stream, None)
