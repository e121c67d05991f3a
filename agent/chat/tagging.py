"""The facts' intent tagger: the offline dialogue engine's intent router, whichever model answers the customer.

Information questions (a policy question, or one out of the shop's scope) are the ones the knowledge base should
answer; greetings, store flows (orders, returns...), asking for a human and bare details are not.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from concurrent.futures import Future

from agent.chat.facts_log import IntentTag
from agent.offline.intents import OUT_OF_SCOPE, POLICY_QUESTION
from agent.offline.router import IntentRouter, Routing

log = logging.getLogger(__name__)
KNOWLEDGE_INTENTS = frozenset({POLICY_QUESTION, OUT_OF_SCOPE})


class RouterTagger:
    """`IntentTagger` over a routing function: the engine's own, or a router's."""

    def __init__(self, route: Callable[[str], Routing]) -> None:
        self.route = route

    @classmethod
    def building(cls, make: Callable[[], IntentRouter]) -> RouterTagger:
        """A tagger whose router is built in the background now (it embeds every example: seconds); tagging
        waits for it. For an LLM deployment, where no dialogue engine built one."""
        ready: Future[IntentRouter] = Future()

        def build() -> None:
            try:
                ready.set_result(make())
            except Exception as exc:  # said by every tag() until a restart: the facts lose their intents only
                log.exception("the intent router could not be built")
                ready.set_exception(exc)

        threading.Thread(target=build, name="intent-router", daemon=True).start()
        return cls(lambda text: ready.result().route(text))

    def tag(self, text: str) -> IntentTag | None:
        try:
            routing = self.route(text)
        except Exception:  # tagging never breaks a turn
            log.exception("intent tagging failed")
            return None
        return _tag(routing)


class EngineTagger(RouterTagger):
    """The offline engine's own router as tagger: the message was routed this turn, its tag is at hand."""

    def __init__(self, route: Callable[[str], Routing], recent: Callable[[str], Routing | None]) -> None:
        super().__init__(route)
        self.recent = recent

    def known(self, text: str) -> IntentTag | None:
        routing = self.recent(text)
        return _tag(routing) if routing is not None else None


def _tag(routing: Routing) -> IntentTag:
    return IntentTag(routing.intent, routing.intent in KNOWLEDGE_INTENTS)
