"""The offline answers end to end: real knowledge base, real embeddings, no LLM.

The extractive answerer is a plain component (question and passages in, a cited answer or None out);
the dialogue engine calls it for help-centre questions and adds small talk and hand-over around it.
"""

from __future__ import annotations

import json

import pytest

from agent.models.base import stream_text
from agent.models.messages import ModelResponse, TextChunk
from agent.offline.answerer import ExtractiveAnswerer
from agent.offline.engine import DialogueEngine
from agent.offline.router import IntentRouter
from agent.runner.conversation import Conversation
from agent.runner.events import Sources, TextDelta, TurnDone
from agent.runner.orchestrator import SupportAgent
from agent.settings import OfflineSettings, Settings
from tests.conftest import ROOT
from tools.knowledge import knowledge_tools
from tools.registry import ToolRegistry

CANNED_HUMAN = "Of course. Our support team is happy to help"


@pytest.fixture(scope="module")
def answerer(shipped_kb) -> ExtractiveAnswerer:
    settings = Settings()
    return ExtractiveAnswerer(shipped_kb.embedder, settings.offline, settings.app)


@pytest.fixture(scope="module")
def agent(shipped_kb, answerer):
    settings = Settings()
    engine = DialogueEngine(IntentRouter.from_settings(shipped_kb.embedder, settings.offline), answerer, settings.app)
    registry = ToolRegistry(knowledge_tools(shipped_kb), settings.tools)
    return SupportAgent(engine, registry, shipped_kb, settings)


async def answer(shipped_kb, answerer, question: str) -> str | None:
    return answerer.answer(question, shipped_kb.relevant(await shipped_kb.asearch(question)))


async def ask(agent, question: str):
    events = [e async for e in agent.run_turn(Conversation("c-offline"), question)]
    done = events[-1]
    assert isinstance(done, TurnDone) and done.status == "completed"
    assert "".join(e.text for e in events if isinstance(e, TextDelta)) == done.reply, "the reply is streamed"
    sources = next((e for e in events if isinstance(e, Sources)), None)
    return done.reply, sources


async def test_a_whole_answer_is_replayed_in_pieces_of_several_words(shipped_kb):
    # Word by word, each piece crossed the orchestrator, the chat service and the page's stream for nothing: the
    # answer is whole at once, and the page shows pieces at most every CHAT_STREAM_INTERVAL_S.
    events = [e async for e in stream_text(ModelResponse("one two  three four five"), 2)]
    assert [e.text for e in events if isinstance(e, TextChunk)] == ["one two", "  three four", " five"]
    settings = Settings(offline=OfflineSettings(stream_words=3))
    assert DialogueEngine.from_settings(shipped_kb.embedder, settings).stream_words == 3
    assert Settings().offline.stream_words > 1


async def test_return_window_is_answered_with_a_citation(agent):
    reply, sources = await ask(agent, "How long do I have to return an item?")
    assert "30 days" in reply and "[1]" in reply
    assert sources.citations[0].passage.source == "returns.md"
    assert "30 days" in sources.citations[0].passage.text


async def test_shipping_question_quotes_the_delivery_time(agent):
    reply, sources = await ask(agent, "How long does standard shipping take?")
    assert "5–7 business days" in reply
    assert {c.passage.source for c in sources.citations} == {"shipping-options.md"}


async def test_unknown_topic_gets_no_answer_from_the_answerer(shipped_kb, answerer):
    assert await answer(shipped_kb, answerer, "Do you sell cars?") is None
    assert "support@larkspurgoods.example" in answerer.dont_know()


@pytest.mark.parametrize("question", [
    "Do I have to pay return shipping if an agent approved my return?",
    "hi, who pays for return shipping?",
])
async def test_a_policy_question_that_mentions_an_agent_or_says_hi_gets_the_policy(shipped_kb, answerer, agent,
                                                                                   question):
    """Small talk never overrides an answer: the answerer has none, and the engine asks it for policies."""
    quoted = await answer(shipped_kb, answerer, question)
    assert quoted and "return shipping" in quoted.lower() and CANNED_HUMAN not in quoted
    reply, _ = await ask(agent, question)
    assert CANNED_HUMAN not in reply


@pytest.mark.parametrize(("text", "expected"), [
    ("hi", "Hello!"), ("thanks!", "You're welcome"), ("bye", "Have a great day"),
])
async def test_small_talk(agent, text, expected):
    reply, _ = await ask(agent, text)
    assert expected in reply


async def test_calibration_set_answers_and_abstains_where_it_should(shipped_kb, answerer):
    rows = [json.loads(line) for line in (ROOT / "knowledge/eval/calibration.jsonl").read_text().splitlines()]
    answered = {True: 0, False: 0}
    for row in rows:
        answered[row["answerable"]] += await answer(shipped_kb, answerer, row["question"]) is not None
    answerable = sum(r["answerable"] for r in rows)
    assert answered[True] / answerable >= 0.9
    assert answered[False] / (len(rows) - answerable) <= 0.15
