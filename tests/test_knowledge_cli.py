"""`python -m knowledge`: ingest with a report, search, eval and calibrate, each on a store of its own."""

from __future__ import annotations

import json
import subprocess
import sys

from tests.conftest import DOCS, ROOT
from tests.files import make_pdf


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
