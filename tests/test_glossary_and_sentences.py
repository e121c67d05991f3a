"""The help centre's glossary (customers' words for its categories) and the ranking by a passage's best sentence."""

from __future__ import annotations

import pytest

from agent.offline.answerer import ExtractiveAnswerer
from agent.settings import KnowledgeSettings, Settings
from knowledge.errors import KnowledgeConfigError
from knowledge.factory import knowledge_base
from knowledge.glossary import Glossary
from knowledge.sentence_index import SentenceIndex
from knowledge.testing import FakeEmbedder, MemoryBackend
from knowledge.text import in_context
from tests.conftest import ROOT

PAYMENT_RULE = "We do not accept cash, checks, bank transfers or other payment services."


def test_a_customer_word_brings_the_help_centre_term():
    glossary = Glossary.parse("other payment services: venmo, cash app\n# a comment\n\nother retailers: best buy")
    assert glossary.expand("Do you take Venmo?") == "Do you take Venmo? (other payment services)"
    assert glossary.expand("best buy and cash app") == "best buy and cash app (other payment services; other retailers)"
    assert glossary.expand("I paid with cash") == "I paid with cash", "whole words only: 'cash' is not 'cash app'"
    assert glossary.expand("do you take other payment services like venmo") == (
        "do you take other payment services like venmo"), "a term the question already says is not added again"


def test_a_malformed_line_names_its_file_and_line(tmp_path):
    path = tmp_path / "glossary.txt"
    path.write_text("other retailers: amazon\nno colon here\n")
    with pytest.raises(KnowledgeConfigError, match=r"glossary.txt:2"):
        Glossary.load(path)
    with pytest.raises(KnowledgeConfigError, match="cannot read"):
        Glossary.load(tmp_path / "missing.txt")


def test_no_glossary_when_the_path_is_empty(monkeypatch):
    monkeypatch.setenv("KNOWLEDGE_GLOSSARY_PATH", "")
    assert KnowledgeSettings().glossary_path is None
    assert Glossary.load(None).expand("venmo") == "venmo"


def test_the_shipped_glossary_parses_and_its_terms_are_the_help_centre_s():
    glossary = Glossary.load(Settings().knowledge.glossary_path)
    docs = " ".join(p.read_text().lower() for p in (ROOT / "knowledge/docs").glob("*.md"))
    assert len(glossary.entries) >= 5
    for term, _ in glossary.entries:
        assert term.lower() in docs, f"{term!r} is not the help centre's own wording"


def test_venmo_is_answered_with_the_payment_rule(shipped_kb, monkeypatch):
    settings = Settings()
    answerer = ExtractiveAnswerer(shipped_kb.embedder, settings.offline, settings.app, shipped_kb.glossary)

    def answer() -> str:
        question = "do you take venmo?"
        return answerer.answer(question, shipped_kb.relevant(shipped_kb.search(question))) or ""

    assert PAYMENT_RULE in answer()
    monkeypatch.setattr(shipped_kb, "glossary", Glossary())
    monkeypatch.setattr(answerer, "glossary", Glossary())
    assert PAYMENT_RULE not in answer(), "MiniLM alone does not know Venmo is a payment service"


# --- ranking by a passage's best sentence -------------------------------------------------------------------
FILLER = " ".join(f"Paragraph {n} talks about lanterns, kettles and hiking poles in general terms." for n in range(12))
BURIED = "Store credit never expires and can be spent on any order."


def _kb(sentence_weight: float):
    cfg = KnowledgeSettings(sentence_weight=sentence_weight, glossary_path=None, chunk_max_words=400, min_score=0.5)
    kb = knowledge_base(cfg, MemoryBackend().open("sentences"), FakeEmbedder())
    kb.ingest_bytes(f"# Odds and ends\n\n{FILLER} {BURIED}".encode(), "odds.md")
    kb.ingest_bytes(b"# Store credit\n\nStore credit is issued for some refunds.", "credit.md")
    return kb


def test_a_sentence_buried_in_a_long_passage_makes_its_passage_relevant():
    question = "does store credit ever expire and can it be spent on any order"
    kb = _kb(0.5)
    relevant = kb.relevant(kb.search(question, k=2))
    assert "odds.md" in {p.source for p in relevant}, "its best sentence answers the question"
    assert next(p for p in relevant if p.source == "odds.md").score > 0.6
    kb = _kb(0.0)
    odds = next(p for p in kb.search(question, k=2) if p.source == "odds.md")
    assert odds.score < 0.5, "averaged over its filler, the passage's own vector is far from the question"
    assert "odds.md" not in {p.source for p in kb.relevant(kb.search(question, k=2))}


def test_the_sentence_index_keeps_each_chunk_once_within_its_filter_and_limit():
    embedder = FakeEmbedder()
    rows = [("a", "Gift cards never expire. Gift cards can be combined.", {}), ("b", "Gift cards are sold online.", {})]
    index = SentenceIndex.build(embedder, rows, limit=10)
    assert len(index) == 3
    best = index.best(embedder.embed(["gift cards never expire"])[0], n=5)
    assert list(best) == ["a", "b"], "one entry per chunk, best first"
    assert list(index.best(embedder.embed(["gift cards"])[0], n=5, allowed={"b"})) == ["b"]
    assert len(SentenceIndex.build(embedder, rows, limit=2)) == 0, "over the limit, ranking by passages only"


def test_warming_builds_the_sentence_index_before_the_first_question():
    kb = _kb(0.5)
    assert len(kb._sentences) == 0
    kb.warm()
    assert len(kb._sentences) > 0


def test_warming_embeds_each_sentence_read_in_its_article_as_the_answerer_reads_it():
    kb = _kb(0.5)
    seen: list[str] = []
    embed = kb.embedder.embed
    kb.embedder.embed = lambda texts: seen.extend(texts) or embed(texts)
    kb.warm()
    (meta,) = [m for _, text, m in kb.store.texts() if "Store credit is issued" in text]
    read = in_context(str(meta.get("title", "")), str(meta.get("section", "")), "Store credit is issued for some refunds.")
    assert read in seen, "the answerer's second reading is in the embedder's cache before the first question"


def test_upload_searches_do_not_read_the_glossary_file_again(monkeypatch):
    from agent.settings import UploadSettings
    from knowledge.factory import build_uploads

    reads: list[object] = []
    real = Glossary.load
    monkeypatch.setattr(Glossary, "load", classmethod(lambda cls, path: reads.append(path) or real(path)))
    library = build_uploads(UploadSettings(), KnowledgeSettings(), MemoryBackend(), FakeEmbedder())
    assert library.add("conv-1", b"Store credit never expires.", "note.txt").status == "added"
    for _ in range(3):
        assert library.search("conv-1", "does store credit expire")
    assert len(reads) == 1, "read once when the library is built, not per search"
