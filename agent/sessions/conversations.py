"""Load a conversation under its lock, and save it back when the turn is over.

The state in the SessionStore is the working memory: the recent window and a rolling summary.
The full history lives in the data layer; when the state has expired, `history` rebuilds it.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from typing import Protocol

from cachetools import TTLCache

from agent.runner.conversation import Conversation
from agent.models.messages import Message
from agent.sessions.base import SessionStore
from agent.sessions.errors import SessionError, SessionUnavailable

log = logging.getLogger(__name__)
History = Callable[[str], Awaitable[list[tuple[str, str]]]]  # conversation id -> [(role, text)]


class Summarizer(Protocol):
    async def summarize(self, previous: str, dropped: list[Message]) -> str: ...


class ConversationRepository:
    def __init__(self, store: SessionStore, summarizer: Summarizer, *, max_messages: int, max_tokens: int,
                 history: History | None = None, new_chats: int = 0, new_chat_ttl_s: float = 0.0) -> None:
        self.store = store
        self.summarizer = summarizer
        self.max_messages = max_messages
        self.max_tokens = max_tokens
        self.history = history
        # Ids opened here lately (`begin`), until their first message; none kept when `new_chats` is 0.
        self._new: TTLCache[str, bool] | None = TTLCache(new_chats, new_chat_ttl_s) if new_chats else None

    @asynccontextmanager
    async def open(self, conversation_id: str, user_id: str | None = None) -> AsyncIterator[Conversation]:
        """The conversation, exclusively: a second message waits until this one's turn is saved.

        If the session store is down, the turn still runs, on memory rebuilt from the stored
        history, unlocked and unsaved: an answer without perfect memory beats no answer.
        """
        async with AsyncExitStack() as stack:
            try:
                await stack.enter_async_context(self.store.lock(conversation_id))
                conversation = await self.load(conversation_id, user_id)
            except SessionUnavailable as exc:
                log.error("session store unavailable for conversation %s (%s); answering without it",
                          conversation_id, exc)
                yield await self._rebuild(conversation_id, user_id)
                return
            try:
                yield conversation
            finally:
                # Saved even when the turn failed or was stopped: memory matches what the customer saw.
                await self.save(conversation)

    def begin(self, conversation_id: str) -> None:
        """A conversation whose id its channel has just made: its first message here need not look in the history
        for messages that cannot exist (under a burst of new chats, 100 such reads queued the first answers ~120 ms).
        Kept in this process for a while, not in the store: every page view opens a chat, most never write."""
        if self._new is not None:
            self._new[conversation_id] = True

    async def catch_up(self, conversation_id: str) -> None:
        """After a human colleague's session: the messages rebuilt from the stored history, so the assistant reads
        what was said while it was away. Uploads, who the conversation acts for and answered clicks are kept; cards
        still waiting and the dialogue's open questions are dropped: the human has settled them."""
        try:
            async with self.store.lock(conversation_id):
                before = await self.load(conversation_id)
                after = await self._rebuild(conversation_id, before.user_id)
                after.uploads, after.customer_id, after.resolved = before.uploads, before.customer_id, before.resolved
                await self.save(after)
        except SessionError as exc:  # the memory keeps what it had: the assistant may miss the human's session
            log.error("working memory of conversation %s not caught up: %s", conversation_id, exc)

    async def load(self, conversation_id: str, user_id: str | None = None) -> Conversation:
        state = await self.store.get(conversation_id)
        if state is not None:
            return Conversation.from_state(state)
        if self._new is not None and self._new.pop(conversation_id, False):
            return Conversation(conversation_id, user_id)  # begun here, no message since: no history either
        return await self._rebuild(conversation_id, user_id)

    async def _rebuild(self, conversation_id: str, user_id: str | None) -> Conversation:
        conversation = Conversation(conversation_id, user_id)
        if self.history:
            stored = await self.history(conversation_id)
            # The message being handled is usually stored already (Chainlit writes it before our
            # hook runs) and the turn adds it again: memory keeps answered exchanges only.
            while stored and stored[-1][0] == "user":
                stored.pop()
            for role, text in stored:
                conversation.add(Message(role, text))  # type: ignore[arg-type]
            if conversation.messages:
                log.info("rebuilt conversation %s from %d stored messages", conversation_id, len(conversation.messages))
        await self._compact(conversation)
        return conversation

    async def save(self, conversation: Conversation) -> None:
        await self._compact(conversation)
        state = conversation.to_state()
        await self.store.update(conversation.id, lambda _current: state)

    async def _compact(self, conversation: Conversation) -> None:
        dropped = conversation.split_off(self.max_messages, self.max_tokens)
        if dropped:
            conversation.summary = await self.summarizer.summarize(conversation.summary, dropped)
