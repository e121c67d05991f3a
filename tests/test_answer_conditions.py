"""Help-centre answers keep the sentence that decides the question, with its conditions and exceptions.

`knowledge/eval/conditions.jsonl` holds policy questions whose answer turns on a condition ("overnight
ships only within the United States", "under $30 you keep it"), each with the sentence that must be
quoted. The whole set (dev and test) goes through the real retrieval and the real extractive answerer.
"""

from __future__ import annotations

import json
import re

import pytest

from agent.offline.answerer import ExtractiveAnswerer
from agent.settings import Settings
from knowledge.types import Passage
from tests.conftest import DOCS, ROOT

SET = ROOT / "knowledge/eval/conditions.jsonl"
MIN_ROWS = 60
# Issue #12 asks for 0.90 and this is not met yet: 82% today (112 of 137: dev 57 of 64, held-out 55 of 73;
# 79% before the glossary and the ranking by a passage's best sentence, which moved dev from 53 and retrieval
# from 125 to 130 of 137, but not the held-out answers). Most held-out misses now quote a neighbouring
# sentence of a retrieved passage. The bar is today's floor, so the suite guards what was gained.
MIN_PASS_RATE = 0.81


def _normal(text: str) -> str:
    return re.sub(r"\s+", " ", text.replace("**", "")).strip().lower()


def _rows() -> list[dict]:
    return [json.loads(line) for line in SET.read_text().splitlines() if line.strip()]


def test_the_set_is_well_formed():
    rows = _rows()
    assert len(rows) >= MIN_ROWS
    assert len({r["question"] for r in rows}) == len(rows), "no question twice"
    assert {r["split"] for r in rows} == {"dev", "test"}
    dev = sum(r["split"] == "dev" for r in rows)
    assert 0.3 <= dev / len(rows) <= 0.5, "at most half is dev, the rest held out"
    for row in rows:
        document = DOCS / row["document"]
        assert document.is_file(), row
        assert _normal(row["must_contain"]) in _normal(document.read_text()), row


@pytest.fixture(scope="module")
def answerer(shipped_kb) -> ExtractiveAnswerer:
    settings = Settings()
    return ExtractiveAnswerer(shipped_kb.embedder, settings.offline, settings.app, shipped_kb.glossary)


async def test_answers_contain_the_deciding_sentence(shipped_kb, answerer):
    misses = []
    rows = _rows()
    for row in rows:
        passages = shipped_kb.relevant(await shipped_kb.asearch(row["question"]))
        reply = answerer.answer(row["question"], passages) or ""
        if _normal(row["must_contain"]) not in _normal(reply):
            misses.append(f"[{row['split']}] {row['question']}\n  wants: {row['must_contain']}\n  got:   {reply}")
    rate = 1 - len(misses) / len(rows)
    print(f"{len(rows) - len(misses)} of {len(rows)} answers contain their deciding sentence ({rate:.0%})")
    print("\n".join(misses))
    assert rate >= MIN_PASS_RATE, f"{rate:.0%} < {MIN_PASS_RATE:.0%}; misses:\n" + "\n".join(misses)


def _passage(section: str, text: str) -> Passage:
    return Passage(id=section, text=text, source="help.md", title="Help", section=section, score=0.6)


# Each case: the question, its passages, the sentence that decides it. Without the kind of answer the
# question asks for (a figure for "what's the window"), or the catch-all rule for a name the help centre
# never mentions, the neighbouring sentence is quoted instead. (Preferring a rule for "can you...?" shows
# on the whole set above, where the deciding sentence competes with a dozen passages.)
KIND_CASES = [
    ("What's your return window",
     [_passage("Return Window and Eligibility", "You can return most items within 30 days of delivery. Only orders "
               "with the status delivered can be returned. If your order has not arrived yet, you cannot start a "
               "return; if it is still pending, you can cancel it instead."),
      _passage("How to Start a Return", "You can start a return by chatting with our assistant or by contacting "
               "our support team. Once the return is confirmed, your order status changes to return requested.")],
     "within 30 days of delivery"),
    ("Do you deliver to Mexico?",
     [_passage("Where We Ship", "We also deliver to Canada, the United Kingdom, EU countries and Australia. "
               "International orders use our international shipping service only. We are not able to ship to other "
               "countries at this time.")],
     "We are not able to ship to other countries"),
]


@pytest.mark.parametrize("question, passages, deciding", KIND_CASES, ids=["figure", "catch-all"])
def test_the_answer_is_of_the_kind_the_question_asks_for(answerer, question, passages, deciding):
    assert deciding in (answerer.answer(question, passages) or "")
