"""Content gaps grouped by meaning (agent/analytics/gaps.py over agent/datalayer/analytics_gaps.py).

The database parts run on SQLite and PostgreSQL with rows written by tests/test_analytics.py's `Facts` helper.
Grouping is checked with the deterministic FakeEmbedder (word-based: shared words make close vectors), and once
with the real MiniLM embedder, whose sense of meaning the default distance threshold was chosen for.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import numpy as np
import pytest
from sqlalchemy import select

from agent.analytics.gaps import DEFAULT_DISTANCE, ContentGaps, GapGroup, cluster, group
from agent.datalayer.analytics_gaps import GapQueries, GapQuestion
from knowledge.testing import FakeEmbedder
from tests.datalayer_fixtures import chat_store, no_database_env  # noqa: F401 (fixtures)
from tests.test_analytics import MINUTE, SINCE, UNTIL, Facts, gaps_table, store  # noqa: F401 (store: fixture)

FAKE_DISTANCE = 0.7  # FakeEmbedder: "where is my parcel" variants ~0.1 apart, other questions ~0.9-1.0
DAY = timedelta(days=1)


async def customers(store) -> Facts:
    f = Facts(store)
    await f.user("dana", "customer")
    await f.user("lee", "lead")
    await f.conversation("one", "dana", SINCE, answered=MINUTE)
    await f.conversation("two", "dana", SINCE + DAY, answered=MINUTE)
    await f.conversation("three", None, SINCE + 2 * DAY, answered=MINUTE)
    await f.conversation("staff", "lee", SINCE, answered=MINUTE)
    return f


async def test_questions_of_a_range_newest_first_with_their_kinds(store):
    f = await customers(store)
    both = await f.gap("one", "missed", "Do you take PayPal?", SINCE + timedelta(hours=1))
    await f.gap("one", "rated_down", "Do you take PayPal?", SINCE + timedelta(hours=1), step=both)
    handed = await f.gap("two", "handed_over", "Ship to Iceland?", SINCE + 3 * DAY)
    await f.gap("two", "missed", "asked before the range", SINCE - timedelta(microseconds=1))
    await f.gap("two", "missed", "asked at the range's end", UNTIL)
    await f.gap("staff", "missed", "a lead trying the bot", SINCE + 2 * DAY)

    found = await GapQueries(store).questions(SINCE, UNTIL, 10)
    assert [(q.step_id, q.question, q.kinds) for q in found] == [
        (handed, "Ship to Iceland?", frozenset({"handed_over"})),
        (both, "Do you take PayPal?", frozenset({"missed", "rated_down"})),
    ]
    assert [q.thread_id for q in found] == [f.threads["two"], f.threads["one"]]
    assert [q.step_id for q in await GapQueries(store).questions(SINCE, UNTIL, 1)] == [handed]


async def test_groups_by_meaning_with_cached_embeddings(store):
    f = await customers(store)
    t = SINCE + 3 * DAY
    asked = [("one", "missed", "where is my parcel", t), ("two", "rated_down", "Where is my  parcel", t + MINUTE),
             ("three", "handed_over", "where is my parcel now?", t + 2 * MINUTE),
             ("one", "missed", "do you sell gift cards", t + 3 * MINUTE),
             ("two", "missed", "gift cards for sale?", t + 4 * MINUTE),
             ("three", "missed", "can I return a kettle", t + 5 * MINUTE)]  # fmt: skip
    steps = [await f.gap(*row) for row in asked]
    await f.gap("three", "missed", "where is my parcel now?", t + 2 * MINUTE, step=steps[2])  # a 2nd kind
    embedder = FakeEmbedder()
    gaps = ContentGaps(GapQueries(store), embedder, distance_threshold=FAKE_DISTANCE)

    groups = await gaps.groups(SINCE, UNTIL)
    assert [(g.size, g.missed, g.rated_down, g.handed_over) for g in groups] == [(3, 2, 1, 1), (2, 2, 0, 0),
                                                                                (1, 1, 0, 0)]  # fmt: skip
    parcel = groups[0]
    assert parcel.examples == ["where is my parcel now?", "Where is my parcel"]  # newest first, distinct
    assert parcel.thread_ids == [f.threads["three"], f.threads["two"], f.threads["one"]]
    assert parcel.last_asked == t + 2 * MINUTE
    assert groups[1].examples == ["gift cards for sale?", "do you sell gift cards"]
    assert embedder.calls == [6], "one question with two kinds is embedded once"

    async with store.engine.connect() as conn:
        stored = (await conn.execute(select(gaps_table.c.step_id, gaps_table.c.embedding))).all()
    assert len(stored) == 7 and all(len(e) == embedder.dimension * 4 for _, e in stored)
    expected = embedder.embed(["where is my parcel now?"])[0]
    for step_id, data in stored:
        if step_id == steps[2]:
            assert np.array_equal(np.frombuffer(data, dtype=np.float32), expected)

    embedder.calls.clear()
    assert await gaps.groups(SINCE, UNTIL) == groups
    assert embedder.calls == [], "the next view reads the cached vectors"


async def test_a_cached_vector_of_another_size_is_recomputed(store):
    f = await customers(store)
    await f.gap("one", "missed", "do you sell gift cards", SINCE + DAY, embedding=b"\x00" * 8)
    await f.gap("two", "missed", "gift cards for sale?", SINCE + DAY + MINUTE)
    embedder = FakeEmbedder()
    groups = await ContentGaps(GapQueries(store), embedder, distance_threshold=FAKE_DISTANCE).groups(SINCE, UNTIL)
    assert embedder.calls == [2] and [g.size for g in groups] == [2]


async def test_no_questions_no_groups_and_nothing_embedded(store):
    await customers(store)
    embedder = FakeEmbedder()
    assert await ContentGaps(GapQueries(store), embedder).groups(SINCE, UNTIL) == []
    assert embedder.calls == []


def _question(n: int, text: str, thread: str, kinds: set[str]) -> GapQuestion:
    return GapQuestion(thread, f"s{n}", text, datetime(2026, 3, 1) + n * MINUTE, frozenset(kinds), None)


def test_groups_sort_by_size_then_recency_and_examples_stop_at_three():
    questions = [_question(n, f"paypal question {n % 4}", f"t{n % 2}", {"missed"}) for n in range(6)]
    questions += [_question(10, "iceland", "t9", {"handed_over"}), _question(11, "norway", "t8", {"rated_down"})]
    labels = [0] * 6 + [1, 2]
    groups = group(questions, labels)
    assert groups[0] == GapGroup(size=6, missed=6, rated_down=0, handed_over=0,
                                 examples=["paypal question 1", "paypal question 0", "paypal question 3"],
                                 thread_ids=["t1", "t0"], last_asked=questions[5].asked_at)  # fmt: skip
    assert [g.examples for g in groups[1:]] == [["norway"], ["iceland"]], "equal sizes: the most recent first"


def test_one_question_is_one_group():
    assert cluster(FakeEmbedder().embed(["alone"]), DEFAULT_DISTANCE) == [0]


@pytest.mark.timeout(600)
def test_minilm_puts_paraphrases_together_and_an_unrelated_question_apart():
    from knowledge.embedder import Embedder

    questions = ["can I pay with PayPal", "do you take paypal", "paypal accepted?", "do you ship to Iceland"]
    labels = cluster(Embedder().embed(questions), DEFAULT_DISTANCE)
    assert labels[0] == labels[1] == labels[2] != labels[3], labels
