"""The second routing test set (issue #12): its size, labels, styles, and independence from the rest.

routing_test2.jsonl was written after the first test file, in other styles: terse commands, long
stories with the request buried, typos and texting, mixed messages where one request dominates, and
questions that share the shop's words but are not requests to it. Like the first test file it is
never used to tune anything (the dev files are; only totals of this one are read), and like it, it must meet
issue #12's bar (`python -m agent.eval routing agent/eval/data/routing_test2.jsonl` prints the numbers).
"""

from __future__ import annotations

import json
import re
from collections import Counter

from agent.eval.routing import evaluate_routing, load_rows
from agent.offline.intents import (
    GOODBYE, GREETING, HUMAN, INTENTS, OUT_OF_SCOPE, POLICY_QUESTION, STORE_FLOWS, THANKS, load_examples, normalize,
)
from tests.conftest import ROOT
from tests.test_routing import assert_meets_issue_12s_bar

DATA = ROOT / "agent" / "eval" / "data"
SECOND = DATA / "routing_test2.jsonl"
EARLIER = {"dev": DATA / "routing_dev.jsonl", "dev2": DATA / "routing_dev2.jsonl", "dev3": DATA / "routing_dev3.jsonl",
           "dev4": DATA / "routing_dev4.jsonl", "dev5": DATA / "routing_dev5.jsonl",
           "dev6": DATA / "routing_dev6.jsonl", "dev7": DATA / "routing_dev7.jsonl",
           "test": DATA / "routing_test.jsonl"}

MIN_ROWS = 320
MIN_PER_STORE_INTENT = 15
MIN_OUT_OF_SCOPE = 60
MIN_POLICY_QUESTIONS = 25
MIN_PER_SOCIAL_OR_HUMAN = 3  # "a few each"
# The styles the set exists for; the counts are a floor well under what the file holds.
MIN_LONG_STORIES = 20  # three sentences or more
MIN_TERSE = 30  # three words or fewer
MIN_WITH_ORDER_ID = 15
_SENTENCE_END = re.compile(r"[.!?](\s|$)")
_ORDER_ID = re.compile(r"\bW\d{7}\b")


def _rows():
    return load_rows(SECOND)


def test_every_line_is_a_text_and_a_known_intent():
    lines = [line for line in SECOND.read_text(encoding="utf-8").splitlines() if line.strip()]
    for line in lines:
        record = json.loads(line)
        assert set(record) == {"text", "intent"}, line
        assert record["intent"] in INTENTS, line
        assert record["text"].strip(), line
    assert len(lines) == len(_rows()) >= MIN_ROWS


def test_every_intent_is_covered_enough():
    counts = Counter(row.intent for row in _rows())
    for intent in STORE_FLOWS:
        assert counts[intent] >= MIN_PER_STORE_INTENT, intent
    assert counts[OUT_OF_SCOPE] >= MIN_OUT_OF_SCOPE
    assert counts[POLICY_QUESTION] >= MIN_POLICY_QUESTIONS
    for intent in (GREETING, THANKS, GOODBYE, HUMAN):
        assert counts[intent] >= MIN_PER_SOCIAL_OR_HUMAN, intent


def test_the_set_holds_the_styles_it_was_written_for():
    texts = [row.text for row in _rows()]
    assert sum(len(_SENTENCE_END.findall(text)) >= 3 for text in texts) >= MIN_LONG_STORIES
    assert sum(len(text.split()) <= 3 for text in texts) >= MIN_TERSE
    assert sum(bool(_ORDER_ID.search(text)) for text in texts) >= MIN_WITH_ORDER_ID


def test_shares_no_sentence_with_the_examples_dev_or_first_test_set():
    second = [normalize(row.text) for row in _rows()]
    assert len(second) == len(set(second)), [t for t, n in Counter(second).items() if n > 1]
    earlier = {"examples": {normalize(text) for texts in load_examples().values() for text in texts}}
    earlier |= {name: {normalize(row.text) for row in load_rows(path)} for name, path in EARLIER.items()}
    for name, texts in earlier.items():
        assert not set(second) & texts, (name, sorted(set(second) & texts))



def test_the_router_meets_issue_12s_bar_on_it(embedder):
    from agent.offline.router import IntentRouter
    from agent.settings import OfflineSettings

    assert_meets_issue_12s_bar(evaluate_routing(IntentRouter.from_settings(embedder, OfflineSettings()), _rows()))
