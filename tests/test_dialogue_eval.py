"""The shipped scripted dialogues, each through the real orchestrator, tools, store and knowledge base."""

from __future__ import annotations

from pathlib import Path

from agent.offline.engine import DialogueEngine
from agent.eval.dialogues import DialogueRunner, format_outcomes, load_dialogues
from tests.conftest import ROOT

DIALOGUES = ROOT / "agent" / "eval" / "data" / "dialogues.jsonl"
# Customers who were not in the room: mid-flow switches, several requests, corrections, taking requests back.
UNDERSTANDING = ROOT / "agent" / "eval" / "data" / "dialogues_understanding.jsonl"
MIN_DIALOGUES = 25
MIN_UNDERSTANDING = 40


def test_the_understanding_set_is_big_enough_and_says_why_a_dialogue_is_open():
    dialogues = load_dialogues(UNDERSTANDING)
    assert len(dialogues) >= MIN_UNDERSTANDING
    assert len({d.name for d in dialogues + load_dialogues(DIALOGUES)}) == len(dialogues) + len(load_dialogues(DIALOGUES))
    assert all(d.open.startswith("#") for d in dialogues if d.open), "an open dialogue names its issue"


async def test_every_shipped_dialogue_ends_in_the_expected_state(shipped_kb, settings, tmp_path: Path):
    # Dialogues marked open describe behaviour still missing; `python -m agent.eval dialogues` runs them all.
    dialogues = [d for d in load_dialogues(DIALOGUES) + load_dialogues(UNDERSTANDING) if not d.open]
    assert len(dialogues) >= MIN_DIALOGUES
    engine = DialogueEngine.from_settings(shipped_kb.embedder, settings)
    outcomes = await DialogueRunner(engine, shipped_kb, settings, tmp_path).run_all(dialogues)
    failed = [o for o in outcomes if not o.passed]
    assert not failed, format_outcomes(failed)


def test_the_command_reports_each_dialogue_and_fails_on_any_failure(shipped_kb, tmp_path: Path, monkeypatch, capsys):
    import json

    import knowledge.factory
    from agent.eval.__main__ import main

    monkeypatch.setattr(knowledge.factory, "build_knowledge", lambda settings: shipped_kb)  # already ingested
    script = tmp_path / "two.jsonl"
    script.write_text("\n".join(json.dumps(d) for d in [
        {"name": "shipping", "signed_in": None, "turns": [{"user": "How long does standard shipping take?"}],
         "expect": {"reply_contains": ["business days"]}},
        {"name": "wrong on purpose", "signed_in": None, "turns": [{"user": "hello"}],
         "expect": {"reply_contains": ["a sentence the assistant never says"]}},
    ]) + "\n", encoding="utf-8")
    out = tmp_path / "report.json"

    assert main(["dialogues", str(script), "--json", str(out)]) == 1
    printed = capsys.readouterr().out
    assert "PASS  shipping" in printed and "FAIL  wrong on purpose: the replies never say" in printed
    report = json.loads(out.read_text())
    assert (report["passed"], report["failed"]) == (1, 1)
    assert [o["name"] for o in report["outcomes"]] == ["shipping", "wrong on purpose"]
