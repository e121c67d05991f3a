"""The offline answer engine end to end: real knowledge base, real embeddings, no LLM."""

from __future__ import annotations

import json

import pytest

from agent.runner.conversation import Conversation
from agent.runner.events import Sources, TextDelta, TurnDone
from agent.offline.answerer import OfflineAnswerEngine
from agent.runner.orchestrator import SupportAgent
from agent.settings import Settings
from tests.conftest import ROOT
from tools.knowledge import knowledge_tools
from tools.registry import ToolRegistry


@pytest.fixture(scope="module")
def agent(shipped_kb):
    settings = Settings()
    engine = OfflineAnswerEngine(shipped_kb.embedder, settings.offline, settings.app)
    registry = ToolRegistry(knowledge_tools(shipped_kb), settings.tools)
    return SupportAgent(engine, registry, shipped_kb, settings)


async def ask(agent, question: str):
    events = [e async for e in agent.run_turn(Conversation("c-offline"), question)]
    done = events[-1]
    assert isinstance(done, TurnDone) and done.status == "completed"
    assert "".join(e.text for e in events if isinstance(e, TextDelta)) == done.reply, "the reply is streamed"
    sources = next((e for e in events if isinstance(e, Sources)), None)
    return done.reply, sources


async def test_return_window_is_answered_with_a_citation(agent):
    reply, sources = await ask(agent, "How long do I have to return an item?")
    assert "30 days" in reply and "[1]" in reply
    assert sources.citations[0].passage.source == "returns.md"
    assert "30 days" in sources.citations[0].passage.text


async def test_shipping_question_quotes_the_delivery_time(agent):
    reply, sources = await ask(agent, "How long does standard shipping take?")
    assert "5–7 business days" in reply
    assert {c.passage.source for c in sources.citations} == {"shipping-options.md"}


async def test_unknown_topic_gets_an_honest_dont_know_and_a_human(agent):
    reply, sources = await ask(agent, "Do you sell cars?")
    assert "don't know" in reply
    assert "support@larkspurgoods.example" in reply
    assert sources is None


@pytest.mark.parametrize(("text", "expected"), [
    ("hi", "Hello!"), ("thanks!", "You're welcome"), ("bye", "Have a great day"),
    ("can I talk to a real person please", "support@larkspurgoods.example"),
])
async def test_small_talk_and_human_requests(agent, text, expected):
    reply, _ = await ask(agent, text)
    assert expected in reply


async def test_calibration_set_answers_and_abstains_where_it_should(agent):
    rows = [json.loads(line) for line in (ROOT / "knowledge/eval/calibration.jsonl").read_text().splitlines()]
    answered = {True: 0, False: 0}
    for row in rows:
        reply, _ = await ask(agent, row["question"])
        answered[row["answerable"]] += "don't know" not in reply
    answerable = sum(r["answerable"] for r in rows)
    assert answered[True] / answerable >= 0.9
    assert answered[False] / (len(rows) - answerable) <= 0.15
