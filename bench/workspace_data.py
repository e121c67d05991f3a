"""Synthetic support conversations for the workspace benchmark: rows for every table the workspace reads.

Each conversation is planned turn by turn the way the app records it: the customer's message (a labelled
example of the offline engine, with this conversation's order number), Chainlit's `on_message` run step, the
tool steps the intent runs, the assistant's reply; confirmation cards and their outcome, knowledge misses, hand-
overs with a help-desk ticket, errors and ratings. The conversation's facts, intents, tools and content gaps are
derived from those steps, so they agree with them exactly. Seeded: the same seed gives the same rows.

Rates (per conversation): ~30 % rated (~80 % of those 👍), ~8 % handed over (a ticket: open / pending / solved by
age), ~5 % with a knowledge miss, ~2 % with an error, ~1 % a lead's own chat, ~2 % anonymous.
"""

from __future__ import annotations

import json
import math
import random
import string
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from bench import workspace_texts as texts

END = datetime(2026, 3, 1)  # by default the newest conversation starts just before this (naive UTC)
SPAN_DAYS = 180
FIRST_RESPONSE_MEDIAN_MS = 800  # log-normal around this
RESPONSE_SIGMA = 0.45
THINK_MEDIAN_S = 35  # the customer's pause between turns
RATED, STAFF_CHATS, ANONYMOUS, ERRORS, TWO_RATINGS = 0.30, 0.01, 0.02, 0.02, 0.05
HAND_OVER_EXTRA = 0.045  # besides every "talk to a human" chat
MISS_RATE = 0.20  # of policy questions, answered "I don't know"
DOWN_IF_ANSWERED, DOWN_IF_NOT = 0.12, 0.55
GREETING_RATE, CLOSING_RATE, FOLLOW_UP_STOP = 0.30, 0.40, 0.5
CARD_OUTCOMES = {"confirmed": 0.7, "declined": 0.2, "expired": 0.1}
TICKET_SETTLED_DAYS = 14
LEADS = ("maya.lead@larkspurgoods.example", "omar.lead@larkspurgoods.example")
ASSISTANT = "Larkspur Assistant"
TRANSCRIPT_BASE = "http://localhost:8000/share/"
TICKET_ALPHABET = string.ascii_uppercase + string.digits
FIRST_NAMES = ("Dana", "Noah", "Ava", "Liam", "Mia", "Ethan", "Zoe", "Lucas", "Ivy", "Omar", "Sara", "Yuki", "Ana",
               "Ravi", "Chloe", "Mateo", "Lena", "Kofi", "Nora", "Hugo")  # fmt: skip
LAST_NAMES = ("Whitfield", "Brown", "Garcia", "Nguyen", "Okafor", "Rossi", "Kim", "Silva", "Schmidt", "Patel",
              "Dubois", "Cohen", "Larsen", "Moreau", "Tanaka", "Ibrahim", "Novak", "Costa")  # fmt: skip


@dataclass
class Rows:
    """Rows per table, keyed by column name; `gaps` still carry the `template` their embedding is looked up by."""

    threads: list[dict[str, Any]] = field(default_factory=list)
    steps: list[dict[str, Any]] = field(default_factory=list)
    feedbacks: list[dict[str, Any]] = field(default_factory=list)
    facts: list[dict[str, Any]] = field(default_factory=list)
    items: list[dict[str, Any]] = field(default_factory=list)
    gaps: list[dict[str, Any]] = field(default_factory=list)
    tickets: list[dict[str, Any]] = field(default_factory=list)
    ticket_events: list[dict[str, Any]] = field(default_factory=list)


@dataclass(frozen=True)
class Person:
    user_id: str
    identifier: str
    name: str
    role: str
    store_id: str | None  # the shop customer record tickets point at (None for staff)


def new_id(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def people(rng: random.Random, customers: int) -> list[Person]:
    """`customers` shop customers, then the leads."""
    out = []
    for n in range(customers):
        first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
        identifier = f"{first.lower()}.{last.lower()}{n}@example.com"
        out.append(Person(new_id(rng), identifier, f"{first} {last}", "customer", f"{first}_{last}_{n:04d}".lower()))
    for identifier in LEADS:
        name = identifier.split(".")[0].title() + " (lead)"
        out.append(Person(new_id(rng), identifier, name, "lead", None))
    return out


def user_rows(everyone: list[Person], end: datetime = END) -> list[dict[str, Any]]:
    joined = end - timedelta(days=SPAN_DAYS + 30)
    return [{"id": p.user_id, "identifier": p.identifier, "display_name": p.name, "role": p.role,
             "password_hash": None, "metadata": {}, "created_at": joined} for p in everyone]  # fmt: skip


def store_customer_rows(everyone: list[Person]) -> list[dict[str, Any]]:
    return [{"id": p.store_id, "first_name": p.name.split()[0], "last_name": p.name.split()[-1],
             "email": p.identifier, "address1": "12 Elm Street", "address2": "", "city": "Springfield",
             "state": "IL", "country": "USA", "zip": "62704"} for p in everyone if p.store_id]  # fmt: skip


def _lognormal_ms(rng: random.Random, median_ms: float) -> int:
    return max(60, int(rng.lognormvariate(math.log(median_ms), RESPONSE_SIGMA)))


def _weighted(rng: random.Random, weights: dict[str, float]) -> str:
    return rng.choices(list(weights), weights=list(weights.values()))[0]


class Conversation:
    """One conversation being written: its steps in order, and the facts they add up to."""

    def __init__(self, rng: random.Random, examples: dict[str, list[str]], owner: Person | None, start: datetime):
        self.rng, self.examples, self.owner = rng, examples, owner
        self.thread_id = new_id(rng)
        self.clock = start
        self.start = start
        self.order = texts.order_id(rng)
        self.steps: list[dict[str, Any]] = []
        self.turns: list[tuple[dict[str, Any], str, dict[str, Any]]] = []  # (customer step, template, reply step)
        self.intents: dict[str, int] = {}
        self.tools: dict[str, list[int]] = {}  # name -> [uses, failures]
        self.facts: dict[str, Any] = {"errors": 0, "knowledge_misses": 0, "cards_shown": 0, "cards_confirmed": 0,
                                      "cards_declined": 0, "cards_expired": 0, "first_response_ms": None}
        self.gaps: list[tuple[dict[str, Any], str, str]] = []  # (customer step, template, kind)
        self.ticket: dict[str, Any] | None = None

    def _step(self, kind: str, name: str, output: str, **extra: Any) -> dict[str, Any]:
        step = {"id": new_id(self.rng), "thread_id": self.thread_id, "parent_id": None, "name": name, "type": kind,
                "input": "", "output": output, "is_error": False, "streaming": False, "wait_for_answer": None,
                "default_open": False, "auto_collapse": None, "show_input": None, "language": None, "icon": None,
                "command": None, "created_at": self.clock, "start_at": self.clock, "end_at": self.clock,
                "metadata": {}, "tags": None, "modes": None, "generation": None, "extra": None}  # fmt: skip
        step.update(extra)
        self.steps.append(step)
        return step

    def _advance_ms(self, ms: float) -> None:
        self.clock += timedelta(milliseconds=ms)

    def _tool(self, name: str, parent: str | None, failed: bool = False) -> None:
        self._advance_ms(self.rng.randint(40, 400))
        arguments = json.dumps({"order_id": self.order} if "order" in name else {"query": name.replace("_", " ")})
        output = ("unavailable: This service is temporarily unavailable. Please try again in a few minutes."
                  if failed else json.dumps({"order_id": self.order, "status": self.rng.choice(texts.STATUSES)}))
        self._step("tool", name, output, input=arguments, parent_id=parent, is_error=failed, show_input="json")
        uses = self.tools.setdefault(name, [0, 0])
        uses[0] += 1
        uses[1] += int(failed)

    def turn(self, intent: str, *, template: str | None = None, reply: str | None = None,
             tools: tuple[str, ...] | None = None, failing: bool = False, gap: str | None = None) -> dict[str, Any]:
        """The customer asks (an example of `intent` unless `template`), Chainlit's run step, the tools, the reply.
        `gap` marks the customer's message as a content gap of that kind (missed, handed_over)."""
        rng = self.rng
        if self.steps:
            self.clock += timedelta(seconds=rng.lognormvariate(math.log(THINK_MEDIAN_S), 0.8))
        template = template or rng.choice(self.examples[intent])
        author = self.owner.identifier if self.owner else "User"
        asked = self._step("user_message", author, texts.customer_text(template, self.order))
        asked_at = self.clock
        self._advance_ms(5)
        run = self._step("run", "on_message", "", parent_id=asked["id"])
        self.intents[intent] = self.intents.get(intent, 0) + 1
        if tools is None:
            options = texts.READ_TOOLS.get(intent, ())
            tools = tuple(rng.sample(options, k=min(len(options), 1 + (rng.random() < 0.25))))
        for n, name in enumerate(tools):
            self._tool(name, run["id"], failed=failing and n == 0)
        response_ms = _lognormal_ms(rng, FIRST_RESPONSE_MEDIAN_MS)
        if self.facts["first_response_ms"] is None:
            self.facts["first_response_ms"] = response_ms
        self.clock = max(self.clock, asked_at) + timedelta(milliseconds=response_ms)
        text = reply if reply is not None else rng.choice(texts.REPLIES[intent]).format(**texts.slots(rng, self.order))
        answer = self._step("assistant_message", ASSISTANT, text, parent_id=run["id"])
        self.turns.append((asked, template, answer))
        if gap:
            self.gaps.append((asked, template, gap))
        return answer

    def card(self, tool: str) -> None:
        """A confirmation card after the last reply, then the customer's click (or none: expired)."""
        rng, facts = self.rng, self.facts
        values = texts.slots(rng, self.order) | {"action": texts.CARD_ACTIONS[tool]}
        self._advance_ms(30)
        self._step("assistant_message", ASSISTANT, texts.CARD.format(**values))
        facts["cards_shown"] += 1
        outcome = _weighted(rng, CARD_OUTCOMES)
        facts[f"cards_{outcome}"] += 1
        self.clock += timedelta(seconds=rng.randint(3, 90) if outcome != "expired" else rng.randint(900, 3600))
        if outcome == "confirmed":
            self._tool(tool, None)
        self._step("assistant_message", ASSISTANT, texts.CARD_DONE[outcome].format(**values))

    def rate(self, answer: dict[str, Any], value: int, late_minutes: float) -> dict[str, Any]:
        return {"id": new_id(self.rng), "for_id": answer["id"], "thread_id": self.thread_id, "value": value,
                "comment": None, "created_at": self.clock + timedelta(minutes=late_minutes)}  # fmt: skip


def ticket_id(rng: random.Random) -> str:
    return "T-" + "".join(rng.choices(TICKET_ALPHABET, k=8))


def script(conv: Conversation) -> None:
    """The turns of one conversation, from the greeting to the hand-over or the goodbye."""
    rng = conv.rng
    opening = _weighted(rng, texts.OPENING_WEIGHTS)
    hand_over_id = ticket_id(rng) if opening == "human" or rng.random() < HAND_OVER_EXTRA else None
    failing_turn = rng.randrange(3) if rng.random() < ERRORS else -1
    if rng.random() < GREETING_RATE:
        conv.turn(texts.SOCIAL_OPENING, tools=())
    intents = [opening] if opening != "human" else []
    base = opening if opening != "human" else "order_status"  # what a bare follow-up ("and when?") is about
    while len(intents) < 4 and rng.random() > FOLLOW_UP_STOP:
        intents.append(_weighted(rng, texts.FOLLOW_UP_WEIGHTS) if rng.random() < 0.6 else "follow_up")
    for n, intent in enumerate(intents):
        if n == failing_turn:
            conv.turn(intent if intent != "follow_up" else base, reply=texts.ERROR_REPLY, failing=True)
            conv.facts["errors"] += 1
        elif intent == "follow_up":
            conv.turn(base, template=rng.choice(texts.FOLLOW_UPS).replace("{order}", conv.order).replace(
                "{product}", rng.choice(texts.PRODUCTS)))
        elif intent == "policy_question" and rng.random() < MISS_RATE:
            conv.turn(intent, reply=texts.DONT_KNOW, gap="missed")
            conv.facts["knowledge_misses"] += 1
        else:
            conv.turn(intent)
            if n == 0 and intent in texts.WRITE_TOOLS:
                conv.card(texts.WRITE_TOOLS[intent])
    if hand_over_id is not None:
        conv.turn("human", reply=texts.HAND_OVER.format(ticket=hand_over_id), tools=(texts.HAND_OVER_TOOL,),
                  gap="handed_over")
        conv.ticket = {"id": hand_over_id, "conversation_id": conv.thread_id, "created_at": conv.clock,
                       "reason": "customer request" if opening == "human" else rng.choice(texts.HAND_OVER_REASONS),
                       "transcript_url": TRANSCRIPT_BASE + conv.thread_id}  # fmt: skip
    elif rng.random() < CLOSING_RATE:
        conv.turn(rng.choice(texts.SOCIAL_CLOSING), tools=())


def _ratings(conv: Conversation, outcome: str) -> list[dict[str, Any]]:
    """None, one, or (sometimes) two ratings: an earlier one on the first reply, the latest on the last reply."""
    rng = conv.rng
    if not conv.turns or rng.random() >= RATED:
        return []
    down = DOWN_IF_ANSWERED if outcome == "answered" else DOWN_IF_NOT
    value = int(rng.random() >= down)
    latest = conv.rate(conv.turns[-1][2], value, late_minutes=rng.uniform(2, 30))
    if len(conv.turns) > 1 and rng.random() < TWO_RATINGS:
        return [conv.rate(conv.turns[0][2], 1 - value, late_minutes=rng.uniform(0, 1)), latest]
    return [latest]


def _ticket_status(rng: random.Random, created_at: datetime, end: datetime) -> tuple[str, str | None, datetime]:
    """(status, assignee, updated_at): older tickets are mostly solved."""
    settled = end - created_at > timedelta(days=TICKET_SETTLED_DAYS)
    weights = {"open": 5, "pending": 10, "solved": 85} if settled else {"open": 45, "pending": 30, "solved": 25}
    status = _weighted(rng, weights)
    if status == "open":
        return status, None, created_at
    return status, rng.choice(LEADS), created_at + timedelta(hours=rng.uniform(0.5, 72))


def _ticket_events(ticket: dict[str, Any], status: str, assignee: str | None, updated: datetime) -> list[dict]:
    """The history the queue would have written: created by the assistant, then assigned and moved by a lead."""
    event = {"ticket_id": ticket["id"], "note": None}
    events = [event | {"at": ticket["created_at"], "actor": "assistant", "kind": "created", "from_value": None,
                       "to_value": "open"}]  # fmt: skip
    if assignee is not None:
        events.append(event | {"at": updated - timedelta(minutes=5), "actor": assignee, "kind": "assigned",
                               "from_value": None, "to_value": assignee})  # fmt: skip
        events.append(event | {"at": updated, "actor": assignee, "kind": "status", "from_value": "open",
                               "to_value": status})  # fmt: skip
    return events


def _outcome(conv: Conversation, opening_unanswered: bool) -> str:
    if conv.ticket is not None:
        return "escalated"
    if conv.facts["errors"]:
        return "error"
    return "unanswered" if conv.facts["knowledge_misses"] or opening_unanswered else "answered"


def add_conversation(rows: Rows, conv: Conversation, end: datetime = END) -> None:
    """The rows of one scripted conversation, facts derived from its steps."""
    rng = conv.rng
    customer_steps = [s for s in conv.steps if s["type"] == "user_message"]
    answers = [s for s in conv.steps if s["type"] == "assistant_message"]
    outcome = _outcome(conv, "out_of_scope" in conv.intents and len(conv.intents) == 1)
    ratings = _ratings(conv, outcome)
    owner = conv.owner
    rows.threads.append({"id": conv.thread_id, "user_id": owner.user_id if owner else None,
                         "name": customer_steps[0]["output"], "tags": None, "metadata": {},
                         "created_at": conv.start, "updated_at": conv.steps[-1]["created_at"]})  # fmt: skip
    rows.steps += conv.steps
    rows.feedbacks += ratings
    facts = dict(conv.facts, thread_id=conv.thread_id, user_id=owner.user_id if owner else None,
                 started_at=conv.start, last_customer_at=customer_steps[-1]["created_at"],
                 last_answer_at=answers[-1]["created_at"] if answers else None, turns=len(customer_steps),
                 ticket_id=None, ticket_status=None, last_rating=ratings[-1]["value"] if ratings else None,
                 outcome=outcome, updated_at=max([conv.steps[-1]["created_at"]] + [r["created_at"] for r in ratings]))
    if conv.ticket is not None:
        status, assignee, updated = _ticket_status(rng, conv.ticket["created_at"], end)
        customer = owner.store_id if owner else None
        summary = f"Customer {owner.name if owner else 'not identified'} needs help with order {conv.order}: " + \
            customer_steps[-1]["output"]
        rows.tickets.append(conv.ticket | {"status": status, "assignee": assignee, "updated_at": updated,
                                           "customer_id": customer, "summary": summary})
        rows.ticket_events += _ticket_events(conv.ticket, status, assignee, updated)
        facts |= {"ticket_id": conv.ticket["id"], "ticket_status": status}
    rows.facts.append(facts)
    rows.items += [{"thread_id": conv.thread_id, "kind": "intent", "name": name, "uses": uses, "failures": 0}
                   for name, uses in conv.intents.items()]
    rows.items += [{"thread_id": conv.thread_id, "kind": "tool", "name": name, "uses": uses, "failures": failures}
                   for name, (uses, failures) in conv.tools.items()]
    asked_for = {answer["id"]: (asked, template) for asked, template, answer in conv.turns}
    gaps = list(conv.gaps) + [(*asked_for[r["for_id"]], "rated_down") for r in ratings if r["value"] == 0]
    rows.gaps += [{"thread_id": conv.thread_id, "step_id": asked["id"], "kind": kind, "question": asked["output"],
                   "asked_at": asked["created_at"], "embedding": None, "template": template}
                  for asked, template, kind in gaps]


def owner_for(rng: random.Random, everyone: list[Person]) -> Person | None:
    """A customer (a few write often: Pareto weights), a lead's own chat, or nobody (anonymous)."""
    roll = rng.random()
    if roll < ANONYMOUS:
        return None
    leads = [p for p in everyone if p.role != "customer"]
    if roll < ANONYMOUS + STAFF_CHATS:
        return rng.choice(leads)
    customers = len(everyone) - len(leads)
    return everyone[min(int(rng.paretovariate(1.2)) - 1, customers - 1) if rng.random() < 0.3
                    else rng.randrange(customers)]


def plan(rng: random.Random, examples: dict[str, list[str]], everyone: list[Person], count: int,
         end: datetime = END) -> Rows:
    """`count` conversations started at random moments in the SPAN_DAYS before `end`."""
    rows = Rows()
    span_s = SPAN_DAYS * 86400
    for _ in range(count):
        start = end - timedelta(seconds=rng.uniform(0, span_s), microseconds=rng.randrange(1_000_000))
        conv = Conversation(rng, examples, owner_for(rng, everyone), start)
        script(conv)
        add_conversation(rows, conv, end)
    return rows
