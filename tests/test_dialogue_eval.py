"""The shipped scripted dialogues, each through the real orchestrator, tools, store and knowledge base."""

from __future__ import annotations

from pathlib import Path

from agent.dialogue.engine import DialogueEngine
from agent.eval.dialogues import DialogueRunner, format_outcomes, load_dialogues
from tests.conftest import ROOT

DIALOGUES = ROOT / "agent" / "eval" / "data" / "dialogues.jsonl"
MIN_DIALOGUES = 25


async def test_every_shipped_dialogue_ends_in_the_expected_state(shipped_kb, settings, tmp_path: Path):
    dialogues = load_dialogues(DIALOGUES)
    assert len(dialogues) >= MIN_DIALOGUES
    engine = DialogueEngine.from_settings(shipped_kb.embedder, settings)
    outcomes = await DialogueRunner(engine, shipped_kb, settings, tmp_path).run_all(dialogues)
    failed = [o for o in outcomes if not o.passed]
    assert not failed, format_outcomes(failed)
