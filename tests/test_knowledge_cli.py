"""`python -m knowledge`: ingest with a report, search, eval and calibrate, each on a store of its own."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from knowledge.__main__ import main as knowledge_main
from tests.conftest import DOCS, ROOT
from tests.files import make_pdf
from tests.processes import SETTING_PREFIXES


def run(store, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "knowledge", "--store", str(store), *args],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
        env={"PATH": "/usr/bin:/bin", "HF_HUB_OFFLINE": "1", "DO_NOT_TRACK": "1", "COLUMNS": "200"},
    )


def test_ingest_reports_skipped_files_and_search_finds_the_rest(tmp_path):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "gift-wrap.md").write_text("# Gift wrapping\n\n## Price\n\nGift wrapping costs three dollars per item.\n")
    (corpus / "manual.pdf").write_bytes(make_pdf([["The Vortex blender has a 1200 watt motor."]]))
    (corpus / "empty.txt").write_bytes(b"")
    (corpus / "broken.pdf").write_bytes(b"%PDF-1.7 this is not really a pdf")
    (corpus / "photo.jpg").write_bytes(b"\xff\xd8\xff\xe0" + bytes(range(256)) * 4)
    store = tmp_path / "store"

    first = run(store, "ingest", str(corpus))
    assert first.returncode == 0, first.stderr
    out = first.stdout
    assert "2 added" in out and "3 skipped" in out
    assert "empty.txt" in out and "the file is empty" in out
    assert "broken.pdf" in out and "photo.jpg" in out

    again = run(store, "ingest", str(corpus))
    assert "2 unchanged" in again.stdout and "0 chunks written" in again.stdout

    found = run(store, "search", "how much does gift wrapping cost", "--json", "-k", "2")
    rows = [json.loads(line) for line in found.stdout.splitlines()]
    assert rows[0]["source"] == "gift-wrap.md" and rows[0]["relevant"] is True
    assert rows[0]["citation"] == "Gift wrapping › Price"

    pdf = run(store, "search", "blender motor power", "--json", "-k", "1")
    assert json.loads(pdf.stdout.splitlines()[0])["page"] == 1


def test_ingest_fails_when_nothing_could_be_ingested(tmp_path):
    corpus = tmp_path / "bad"
    corpus.mkdir()
    (corpus / "empty.md").write_bytes(b"")
    result = run(tmp_path / "store", "ingest", str(corpus))
    assert result.returncode == 1 and "1 skipped" in result.stdout


def test_eval_prints_metrics_and_writes_a_report(tmp_path):
    store = tmp_path / "store"
    assert run(store, "ingest", str(DOCS)).returncode == 0
    questions = tmp_path / "q.jsonl"
    questions.write_text("\n".join(json.dumps(q) for q in [
        {"question": "how long to send something back", "relevant": ["returns.md"]},
        {"question": "do gift cards expire", "relevant": ["gift-cards.md"]},
    ]))
    report = tmp_path / "report.json"
    result = run(store, "eval", str(questions), "--report", str(report))
    assert result.returncode == 0 and "recall@5 1.000" in result.stdout
    data = json.loads(report.read_text())
    assert data["summary"]["questions"] == 2 and data["summary"]["mrr"] > 0.5
    assert {"recall@5", "mrr", "ndcg@10"} <= set(data["summary"])


@pytest.fixture
def default_store(tmp_path, monkeypatch) -> Path:
    """For `main()` in this process: no app settings from the environment or a ./.env, and a default store
    (KNOWLEDGE_STORE_DIR) that must stay untouched when --store names another."""
    for name in [n for n in os.environ if n.startswith(SETTING_PREFIXES)]:
        monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    decoy = tmp_path / "default-store"
    monkeypatch.setenv("KNOWLEDGE_STORE_DIR", str(decoy))
    return decoy


@pytest.mark.parametrize("ingest_options", ["before", "after"])
def test_store_and_collection_go_before_or_after_the_command(tmp_path, default_store, capsys, ingest_options):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "gift-wrap.md").write_text("# Gift wrapping\n\n## Price\n\nGift wrapping costs three dollars per item.\n")
    store = tmp_path / "store"
    options = ["--store", str(store), "--collection", "team-gifts"]

    def knowledge(where: str, *args: str) -> int:
        return knowledge_main([*options, *args] if where == "before" else [*args, *options])

    assert knowledge(ingest_options, "ingest", str(corpus)) == 0
    assert "1 added" in capsys.readouterr().out
    assert store.is_dir() and any(store.iterdir()), "the index is written into --store"
    assert not default_store.exists(), "and not into KNOWLEDGE_STORE_DIR"

    search_options = "after" if ingest_options == "before" else "before"
    assert knowledge(search_options, "search", "how much does gift wrapping cost", "--json", "-k", "1") == 0
    [row] = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert row["source"] == "gift-wrap.md"

    assert knowledge_main(["--store", str(store), "search", "gift wrapping", "--json"]) == 0
    assert capsys.readouterr().out == "", "another collection of the same store holds nothing"
    assert not default_store.exists()


def test_search_documents_lists_each_document_once_with_its_best_score(tmp_path):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "gift-wrap.md").write_text(
        "# Gift wrapping\n\n## Price\n\nGift wrapping costs three dollars per item.\n\n"
        "## Paper\n\nGift wrapping paper comes in red, gold and plain brown.\n\n"
        "## Messages\n\nA gift wrapping order can carry a handwritten message card.\n")
    (corpus / "boxes.md").write_text("# Gift boxes\n\n## Sizes\n\nGift boxes come in small, medium and large.\n")
    (corpus / "tents.md").write_text("# Tents\n\n## Drying\n\nDry a tent completely before storing it.\n")
    store = tmp_path / "store"
    assert run(store, "ingest", str(corpus)).returncode == 0

    passages = [json.loads(line) for line in
                run(store, "search", "gift wrapping paper and price", "--json", "-k", "10").stdout.splitlines()]
    assert len(passages) > 3, "several passages of one document"
    found = run(store, "search", "gift wrapping paper and price", "--documents", "--json", "-k", "3")
    assert found.returncode == 0, found.stderr
    documents = [json.loads(line) for line in found.stdout.splitlines()]
    assert [d["source"] for d in documents] == list(dict.fromkeys(p["source"] for p in passages))
    for document in documents:
        assert document["rank"] == documents.index(document) + 1
        assert document["score"] == max(p["score"] for p in passages if p["source"] == document["source"])

    table = run(store, "search", "gift wrapping paper and price", "--documents", "-k", "3").stdout
    ranked = [line for line in table.splitlines() if re.match(r"\d+\. ", line)]
    assert len(ranked) == 3 and sum("gift-wrap.md" in line for line in ranked) == 1, table


def test_eval_over_documents_ranks_k_distinct_documents(tmp_path):
    store = tmp_path / "store"
    assert run(store, "ingest", str(DOCS)).returncode == 0
    questions = tmp_path / "q.jsonl"
    questions.write_text(json.dumps({"question": "how long to send something back", "relevant": ["returns.md"]}))
    report = tmp_path / "report.json"
    result = run(store, "eval", str(questions), "--documents", "-k", "5", "--report", str(report))
    assert result.returncode == 0 and "recall@5 1.000" in result.stdout and "ranked by documents" in result.stdout
    data = json.loads(report.read_text())
    assert data["summary"]["ranking"] == "documents"
    [question] = data["questions"]
    assert len(question["retrieved"]) == len(set(question["retrieved"])) == 10, "max(k, 10) distinct documents"
