"""Scripted multi-turn conversations with the offline dialogue engine, judged on what they did to the store.

Each JSONL line is one conversation:

    {"name": "...", "signed_in": null | "dana@example.com",
     "turns": [{"user": "text"} | {"click": "confirm" | "cancel"} | {"choose": "button label"}, ...],
     "expect": {"tool_calls": [names, in order, a subsequence of those made], "no_tool_calls": [names],
                "store": {"orders": {"#W1001001": {"status": "return requested", "return_items": ["Headphones"]}},
                          "users": {...}},
                "tickets": 1, "reply_contains": [...], "reply_not_contains": [...]},
     "open": "why the engine does not pass it yet (optional)"}

A dialogue marked `open` describes behaviour the engine still lacks (an open issue): the command runs
it like any other, and the shipped test leaves it out until it passes, when the mark is removed.

Every conversation runs through the real orchestrator (`SupportAgent`), the real tool registry and the
shipped knowledge base, on its own copy of a once-seeded SQLite store, with the session state passed
through JSON between turns as the session store does. A click resolves the oldest card still waiting
(several requests in one message show a card each; a replaced or withdrawn card no longer waits), or
clicks the latest card again; choices must be among the buttons of the latest `Choices`.
"""

from __future__ import annotations

import asyncio
import json
import shutil
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from agent.runner.conversation import Conversation
from agent.runner.events import CardSettled, Choices, ConfirmationRequested, ErrorEvent, ToolCallStarted, TurnDone
from agent.factory import build_registry
from agent.models.base import ChatModel
from agent.runner.orchestrator import SupportAgent
from agent.settings import Settings
from knowledge.base import KnowledgeBase
from tools.store.accounts import AccountDirectory
from tools.store.db import StoreDatabase
from tools.store.migrate import migrate_store
from tools.store.models import Ticket
from tools.store.seed import seed_demo
from tools.store.taubench import export_json

EVAL_CUSTOMERS = 40  # Dana plus enough strangers for "someone else's order"; small, so each copy is quick
TEMPLATE = "template.db"


@dataclass(frozen=True)
class Dialogue:
    name: str
    turns: list[dict[str, str]]
    expect: dict[str, Any]
    signed_in: str | None = None
    open: str | None = None  # not passed yet, and why


@dataclass
class Outcome:
    name: str
    passed: bool
    reason: str = ""
    tool_calls: list[str] = field(default_factory=list)
    transcript: list[str] = field(default_factory=list)


def load_dialogues(path: Path) -> list[Dialogue]:
    dialogues = []
    for number, line in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip() or line.lstrip().startswith("//"):
            continue
        try:
            row = json.loads(line)
            expect = dict(row.get("expect", {}))
            dialogues.append(Dialogue(row["name"], list(row["turns"]), expect, row.get("signed_in"), row.get("open")))
        except (json.JSONDecodeError, KeyError, TypeError) as exc:
            raise ValueError(f"{path}:{number}: not a dialogue ({exc})") from exc
    return dialogues


class DialogueRunner:
    """Runs dialogues against fresh copies of one seeded store, with one model and one knowledge base."""

    def __init__(self, model: ChatModel, knowledge: KnowledgeBase | None, settings: Settings, workdir: Path) -> None:
        self.model = model
        self.knowledge = knowledge
        self.settings = settings
        self.workdir = Path(workdir)

    async def prepare(self) -> None:
        """Migrate and seed the store once; every dialogue starts from a copy of this file."""
        self.workdir.mkdir(parents=True, exist_ok=True)
        template = self.workdir / TEMPLATE
        template.unlink(missing_ok=True)
        url = _url(template)
        await migrate_store(url)
        db = StoreDatabase(url)
        try:
            await seed_demo(db, EVAL_CUSTOMERS, self.settings.store.seed_random_seed)
        finally:
            await db.dispose()

    async def run(self, dialogue: Dialogue, number: int = 0) -> Outcome:
        path = self.workdir / f"dialogue-{number}.db"
        shutil.copyfile(self.workdir / TEMPLATE, path)
        db = StoreDatabase(_url(path))
        try:
            registry = build_registry(self.settings, self.knowledge, db)  # type: ignore[arg-type]
            agent = SupportAgent(self.model, registry, self.knowledge, self.settings,
                                 accounts=AccountDirectory(db).customer_for)
            conversation_id = f"eval-{number}"
            outcome = await _play(agent, dialogue, conversation_id)
            if outcome.passed:
                outcome.reason = await _judge(dialogue.expect, outcome, db, conversation_id)
                outcome.passed = not outcome.reason
            return outcome
        finally:
            await db.dispose()
            path.unlink(missing_ok=True)

    async def run_all(self, dialogues: list[Dialogue]) -> list[Outcome]:
        await self.prepare()
        return [await self.run(dialogue, n) for n, dialogue in enumerate(dialogues)]


def _url(path: Path) -> str:
    return f"sqlite+aiosqlite:///{path}"


async def _play(agent: SupportAgent, dialogue: Dialogue, conversation_id: str) -> Outcome:
    outcome = Outcome(dialogue.name, passed=True)
    state = Conversation(conversation_id, user_id=dialogue.signed_in).to_state()
    token: str | None = None
    waiting: list[str] = []  # cards shown and not clicked, oldest first
    buttons: tuple[str, ...] = ()
    for turn in dialogue.turns:
        # Between turns the conversation lives only as JSON, as in the session store (another instance may go on).
        conversation = Conversation.from_state(json.loads(json.dumps(state)))
        if "click" in turn:
            if token is None:
                return _fail(outcome, f"{turn}: no confirmation card to click")
            token = waiting.pop(0) if waiting else token
            events = agent.resolve_action(conversation, token, approve=turn["click"] == "confirm")
            said = f"[click {turn['click']}]"
        else:
            text = turn.get("user")
            if "choose" in turn:
                text = next((b for b in buttons if b.casefold() == turn["choose"].casefold()), None)
                if text is None:
                    return _fail(outcome, f"{turn}: no such button among {list(buttons)}")
            if not text:
                return _fail(outcome, f"{turn}: a turn is a user message, a click or a choice")
            events = agent.run_turn(conversation, text)
            said = text
        collected = [event async for event in events]
        outcome.transcript.append(f"> {said}")
        buttons = ()
        for event in collected:
            if isinstance(event, ToolCallStarted):
                outcome.tool_calls.append(event.name)
            elif isinstance(event, ConfirmationRequested):
                token = event.token
                waiting = [t for t in waiting if t not in event.replaces and t != token] + [token]
                outcome.transcript.append("[card] " + " ".join(event.summary))
            elif isinstance(event, CardSettled):
                waiting = [t for t in waiting if t != event.token]
            elif isinstance(event, Choices):
                buttons = event.options
            elif isinstance(event, ErrorEvent):
                outcome.transcript.append(f"[error {event.kind}] {event.message}")
            elif isinstance(event, TurnDone):
                outcome.transcript.append(event.reply + (f"  [buttons: {' | '.join(buttons)}]" if buttons else ""))
        state = conversation.to_state()
        json.dumps(state)  # the state must stay JSON: a failure here is a bug in the engine's state
    return outcome


def _fail(outcome: Outcome, reason: str) -> Outcome:
    outcome.passed, outcome.reason = False, reason
    return outcome


async def _judge(expect: dict[str, Any], outcome: Outcome, db: StoreDatabase, conversation_id: str) -> str:
    """Why the dialogue failed its expectations, or "" when it met them all."""
    made = outcome.tool_calls
    if (wanted := expect.get("tool_calls")) and not _subsequence(wanted, made):
        return f"tool calls {made} do not include {wanted} in order"
    if unwanted := [name for name in expect.get("no_tool_calls", []) if name in made]:
        return f"unexpected tool calls {unwanted} (made: {made})"
    replies = "\n".join(line for line in outcome.transcript if not line.startswith("> ")).casefold()
    if missing := [text for text in expect.get("reply_contains", []) if text.casefold() not in replies]:
        return f"the replies never say {missing}"
    if present := [text for text in expect.get("reply_not_contains", []) if text.casefold() in replies]:
        return f"the replies say {present}"
    if "tickets" in expect:
        async with db.read() as session:
            count = await session.scalar(
                select(func.count()).select_from(Ticket).where(Ticket.conversation_id == conversation_id)
            )
        if count != expect["tickets"]:
            return f"{count} ticket(s), expected {expect['tickets']}"
    if wanted_store := expect.get("store"):
        return _compare_store(wanted_store, await export_json(db))
    return ""


def _subsequence(wanted: list[str], made: list[str]) -> bool:
    remaining = iter(made)
    return all(name in remaining for name in wanted)


def _compare_store(wanted: dict[str, Any], doc: dict[str, Any]) -> str:
    for section, records in wanted.items():
        for record_id, fields in records.items():
            record = doc.get(section, {}).get(record_id)
            if record is None:
                return f"{section} {record_id} is missing"
            if problem := _differs(fields, record, doc, f"{section} {record_id}"):
                return problem
    return ""


def _differs(wanted: Any, actual: Any, doc: dict[str, Any], where: str) -> str:
    """Subset comparison; a list of item ids may also be written as the items' product names."""
    if isinstance(wanted, dict):
        if not isinstance(actual, dict):
            return f"{where} is {actual!r}, expected {wanted!r}"
        for key, value in wanted.items():
            if key not in actual:
                return f"{where} has no {key} (expected {value!r})"
            if problem := _differs(value, actual[key], doc, f"{where}.{key}"):
                return problem
        return ""
    if isinstance(wanted, list) and isinstance(actual, list):
        names = [_item_name(doc, item) for item in actual]
        if sorted(map(str, wanted)) in (sorted(map(str, actual)), sorted(names)):
            return ""
        return f"{where} is {actual!r} ({names}), expected {wanted!r}"
    if isinstance(wanted, float) and isinstance(actual, (int, float)):
        return "" if abs(wanted - actual) < 0.005 else f"{where} is {actual!r}, expected {wanted!r}"
    return "" if wanted == actual else f"{where} is {actual!r}, expected {wanted!r}"


def _item_name(doc: dict[str, Any], item_id: Any) -> str:
    for product in doc.get("products", {}).values():
        if item_id in product.get("variants", {}):
            return str(product["name"])
    return str(item_id)


def report(outcomes: list[Outcome]) -> dict[str, Any]:
    passed = sum(o.passed for o in outcomes)
    return {"dialogues": len(outcomes), "passed": passed, "failed": len(outcomes) - passed,
            "outcomes": [asdict(o) for o in outcomes]}


def format_outcomes(outcomes: list[Outcome], verbose: bool = False) -> str:
    lines = []
    for outcome in outcomes:
        verdict = "PASS" if outcome.passed else "FAIL"
        lines.append(f"{verdict}  {outcome.name}" + (f": {outcome.reason}" if outcome.reason else ""))
        if verbose or not outcome.passed:
            lines += [f"      {line}" for text in outcome.transcript for line in text.splitlines()]
    passed = sum(o.passed for o in outcomes)
    lines.append(f"\n{passed}/{len(outcomes)} dialogues passed")
    return "\n".join(lines)


def run_dialogues(path: Path, model: ChatModel, knowledge: KnowledgeBase | None, settings: Settings,
                  workdir: Path) -> list[Outcome]:
    runner = DialogueRunner(model, knowledge, settings, workdir)
    return asyncio.run(runner.run_all(load_dialogues(path)))
