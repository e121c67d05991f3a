"""What a flow is made of: steps (call tools, or reply) and the context a flow plans in.

A flow is a plain function `plan(ctx) -> Step`, re-run after every message and every tool result. It
walks its needs in order (the customer is identified, the order is known, its details are read, the
items are chosen...) and returns the first step still missing: a tool call, or a question. Because it
starts from the state each time, a correction simply clears a slot and the next plan asks again.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from rapidfuzz.distance import Levenshtein

from agent.offline import replies
from agent.offline.entities import choice, correction
from agent.offline.intents import normalize
from agent.offline.state import DialogueState, Flow
from agent.settings import AppSettings

PICK_SLACK_WORDS = 3  # "the visa one please" answers "Visa ending 4242"
SHORT_PICK_WORDS = 2  # "2", "the second", "paypal": short enough to be nothing but a pick
MIN_SHARED_WORD = 3
TYPO_EDITS = 1
_ORDINAL = re.compile(r"\b(first|second|third|fourth|fifth|last|\d(st|nd|rd|th)?)\b", re.I)


@dataclass(frozen=True)
class Call:
    """Tool calls to make now, in order; the flow plans again with their results."""

    calls: tuple[tuple[str, dict[str, Any]], ...]


@dataclass(frozen=True)
class Reply:
    """Say this to the customer and end the turn, offering `choices` as buttons."""

    text: str
    choices: tuple[str, ...] = ()


@dataclass(frozen=True)
class Switched:
    """The request turned out to be another one (see `Context.switch`): plan the new flow instead."""


Step = Call | Reply | Switched


def call(name: str, **arguments: Any) -> Call:
    return Call(((name, arguments),))


class Context:
    """A flow's view of the conversation: its slots, the store reads so far, and how to ask or act."""

    def __init__(self, state: DialogueState, flow: Flow, app: AppSettings) -> None:
        self.state = state
        self.flow = flow
        self.app = app

    # --- store reads made so far (see observe.py) -------------------------------------------------
    @property
    def orders(self) -> list[dict[str, Any]] | None:
        return self.state.cache.get("orders")

    def order(self, order_id: str | None = None) -> dict[str, Any] | None:
        wanted = order_id or self.flow.get("order_id")
        return self.state.cache.get("order", {}).get(wanted) if wanted else None

    @property
    def user(self) -> dict[str, Any] | None:
        return self.state.cache.get("user")

    def product(self, product_id: str) -> dict[str, Any] | None:
        return self.state.cache.get("products", {}).get(product_id)

    # --- steps ----------------------------------------------------------------------------------
    def say(self, text: str) -> str:
        """The reply with this turn's notices (what a tool said, a knowledge answer) in front."""
        return "\n\n".join([*self.state.notices(), text]).strip()

    def ask(self, slot: str | None, question: str, choices: dict[str, Any] | None = None) -> Reply:
        """Ask for `slot`; a click on a choice fills it with the choice's value."""
        self.flow.ask(slot, question, choices)
        return Reply(self.say(question), tuple(choices or {}))

    def done(self, text: str, choices: tuple[str, ...] = ()) -> Reply:
        """The flow's task is finished (or impossible): say so and forget the flow."""
        self.state.remember(f"{self.flow.intent}: {text[:160]}")
        self.state.end()
        return Reply(self.say(text), choices)

    def refuse(self, reason: str, text: str, instead: dict[str, Any]) -> Reply:
        """Policy forbids the request: explain, offer what is possible; insisting leads to a colleague."""
        self.flow.refused = reason
        self.flow.note(reason)
        return self.ask("instead", text, {**instead, replies.TALK_TO_PERSON: "human"})

    def write(self, tool: str, **arguments: Any) -> Step:
        """Preview the change with its tool: the customer gets the card, and only their click applies it."""
        if (refused := self.state.turn.get("write_refused")) is not None:
            text = replies.WRITE_REFUSED.format(reason=refused.rstrip("."))
            return self.refuse(f"{tool} refused: {refused}", text, {})
        if self.flow.card == tool and self.flow.data.get("card_arguments") == arguments:
            return Reply(self.say(replies.confirm_card(tool)))  # the card is on screen: wait for the click
        self.flow.data["card_arguments"] = arguments
        return call(tool, **arguments)

    def switch(self, intent: str, keep: tuple[str, ...], **values: Any) -> Context:
        """Carry on as another request with what is known (an exchange of an unshipped order is an item change)."""
        old = self.flow
        new = self.state.start(intent)
        for text in old.data["said"]:
            new.hear(text)
        for slot in keep:
            if old.get(slot) is not None:
                new.fill(slot, old.get(slot))
        for slot, value in values.items():
            new.fill(slot, value)
        return Context(self.state, new, self.app)

    def resolve(self, slot: str, finder: Callable[[str], Any]) -> Any:
        """Fill `slot` from a clicked choice or from what the customer said (newest first), if anything fits."""
        if (value := self.flow.get(slot)) is not None:
            return value
        for n, text in enumerate(self.flow.heard(slot)):
            # Only the newest message answers the question on screen; older ones were said before it.
            if n == 0 and self.flow.awaiting == slot and (picked := pick(text, self.flow.options)) is not None:
                self.flow.fill(slot, picked)
                return picked
            if (found := finder(text)) is not None:
                self.flow.fill(slot, found)
                return found
        return None


def pick(text: str, options: dict[str, Any]) -> Any:
    """The value of the option whose label the customer clicked or typed (or numbered, or nearly typed).

    A sentence much longer than every label is not an answer to the buttons, even if it shares a word
    with one ("how long do refunds take to a card?" is not "Gift card").
    """
    labels = list(options)
    longest = max((len(label.split()) for label in labels), default=0)
    if not labels or len(text.split()) > longest + PICK_SLACK_WORDS:
        return None
    if correction(text):
        # "No, the other one" is about the last choice; only a label it spells out answers this one.
        plain = normalize(text)
        named = [label for label in labels if normalize(label) and normalize(label) in plain]
        return options[named[0]] if len(named) == 1 else None
    index = choice(text, labels)
    if index is None:
        return None
    if len(text.split()) > SHORT_PICK_WORDS and not _ORDINAL.search(text) and not _shares_a_word(text, labels[index]):
        return None  # "I still want to return it" is not "Talk to a person", though both say "to"
    return options[labels[index]]


def _shares_a_word(text: str, label: str) -> bool:
    """A word of the message is a word of the label, give or take a typo ("paypall")."""
    said = [w for w in normalize(text).split() if len(w) >= MIN_SHARED_WORD]
    offered = [w for w in normalize(label).split() if len(w) >= MIN_SHARED_WORD]
    return any(Levenshtein.distance(a, b) <= TYPO_EDITS for a in said for b in offered)
