"""Markdown splitting, incremental ingestion into a real local Chroma, and retrieval quality."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from agent.factory import build_knowledge
from agent.settings import KnowledgeSettings, Settings
from knowledge.markdown import split_markdown, split_sentences
from tests.conftest import DOCS

DOC = """# Returns

Intro line about returns.

## Return window

You can return most items within 30 days of delivery. Items must be unused.

## Shipping costs

| Method | Time | Price |
|---|---|---|
| Standard | 5–7 days | $5.99 |

We ship to:

- Canada
- Australia
"""


def test_split_keeps_title_and_sections():
    chunks = split_markdown(DOC, "returns.md", max_words=160)
    assert {c.title for c in chunks} == {"Returns"}
    assert [c.section for c in chunks] == ["", "Return window", "Shipping costs"]
    assert "30 days" in chunks[1].text
    assert len({c.id for c in chunks}) == len(chunks)
    assert split_markdown(DOC, "returns.md", 160)[1].id == chunks[1].id, "ids are stable"


def test_tables_and_lists_become_quotable_sentences():
    shipping = split_markdown(DOC, "returns.md", 160)[2]
    sentences = split_sentences(shipping.text)
    assert "Standard: time 5–7 days; price $5.99." in sentences
    assert "We ship to: Canada, Australia." in sentences


def test_long_sections_are_cut_to_the_word_budget():
    body = " ".join(f"Sentence number {i} is here." for i in range(200))
    chunks = split_markdown(f"# T\n\n## S\n\n{body}\n", "t.md", max_words=50)
    assert len(chunks) > 10
    assert all(len(c.text.split()) <= 50 for c in chunks)
    assert all(c.section == "S" for c in chunks)


def test_every_shipped_document_has_a_title_and_sections():
    docs = sorted(DOCS.glob("*.md"))
    assert len(docs) >= 15
    for path in docs:
        chunks = split_markdown(path.read_text(), path.name, 160)
        assert chunks and all(c.title != path.stem for c in chunks), f"{path.name} needs a '# Title'"
        assert len({c.section for c in chunks}) >= 3, f"{path.name} needs sections"


def test_embedder_is_offline_minilm(embedder):
    vectors = embedder.embed(["return an item", "send a product back", "weather in Paris"])
    assert vectors.shape == (3, 384)
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1, atol=1e-5)
    assert vectors[0] @ vectors[1] > vectors[0] @ vectors[2] + 0.2


@pytest.fixture
def docs_copy(tmp_path):
    folder = tmp_path / "docs"
    folder.mkdir()
    for name in ("returns.md", "refunds.md", "shipping-options.md"):
        shutil.copy(DOCS / name, folder / name)
    return folder


def test_sync_is_incremental(embedder, docs_copy, tmp_path):
    settings = Settings(knowledge=KnowledgeSettings(store_dir=tmp_path / "store"))
    kb = build_knowledge(settings, embedder)

    first = kb.sync(docs_copy)
    assert sorted(first.added) == ["refunds.md", "returns.md", "shipping-options.md"]
    total = kb.store.count()

    again = kb.sync(docs_copy)
    assert (again.added, again.updated, again.removed, again.unchanged, again.chunks) == ([], [], [], 3, 0)

    returns = docs_copy / "returns.md"
    returns.write_text("# Returns\n\n## Window\n\nReturns are accepted for 45 days while we test this.\n")
    edited = kb.sync(docs_copy)
    assert edited.updated == ["returns.md"] and edited.unchanged == 2
    hits = [p for p in kb.search("how many days to return", k=10) if p.source == "returns.md"]
    assert len(hits) == 1 and "45 days" in hits[0].text, "old chunks of an edited file are gone"

    (docs_copy / "refunds.md").unlink()
    removed = kb.sync(docs_copy)
    assert removed.removed == ["refunds.md"]
    assert all(p.source != "refunds.md" for p in kb.search("refund to my card", k=20))
    assert kb.store.count() < total

    reopened = build_knowledge(settings, embedder)
    assert reopened.store.count() == kb.store.count(), "the store persists on disk"


@pytest.mark.parametrize(
    ("question", "source"),
    [
        ("How long do I have to return an item?", "returns.md"),
        ("how long does standard shipping take", "shipping-options.md"),
        ("can i cancel my order", "cancel-an-order.md"),
        ("when will I get my refund on my credit card", "refunds.md"),
        ("do you ship to australia", "international-shipping.md"),
        ("is my broken keyboard covered by the warranty", "warranty.md"),
        ("I forgot my password", "account-and-security.md"),
        ("package says delivered but its not here", "lost-or-delayed-packages.md"),
    ],
)
def test_questions_retrieve_the_right_article(shipped_kb, question, source):
    passages = shipped_kb.relevant(shipped_kb.search(question))
    assert passages, f"nothing relevant for {question!r}"
    assert source in [p.source for p in passages[:3]]


@pytest.mark.parametrize(
    "question",
    ["Do you sell cars?", "What's the weather in Paris tomorrow?", "Who won the football match last night?",
     "Can you book me a table for two at an Italian restaurant?"],
)
def test_off_topic_questions_retrieve_nothing_relevant(shipped_kb, question):
    assert shipped_kb.relevant(shipped_kb.search(question)) == []
