"""Do help-centre answers keep the sentence that decides the question (its condition or exception)?

Each row of a conditions file is a policy question and the help centre's sentence that must be quoted
for the answer to be right ("Overnight shipping is not available to PO boxes"). The question goes
through the real retrieval and the extractive answerer, as in the offline engine.
"""

from __future__ import annotations

import asyncio
import json
import re
from pathlib import Path
from typing import Any

from agent.offline.answerer import ExtractiveAnswerer
from agent.settings import Settings


def normal(text: str) -> str:
    """Lower case, words only: a quote is compared by its words, not by its punctuation or Markdown. The help
    centre's list items are quoted joined by commas ("Returns: the refund is issued ..., Exchanges: ..."), so
    an item's closing full stop is not in the answer, though all its words are."""
    return " ".join(re.findall(r"[\w$%]+", text.lower()))


def load_conditions(path: Path) -> list[dict[str, str]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


async def amisses(knowledge: Any, settings: Settings, rows: list[dict[str, str]]) -> list[str]:
    """One line per row whose answer lacks its sentence: the split, the question, the sentence and the reply."""
    answerer = ExtractiveAnswerer(knowledge.embedder, settings.offline, settings.app, knowledge.glossary)
    misses = []
    for row in rows:
        passages = knowledge.relevant(await knowledge.asearch(row["question"]))
        reply = answerer.answer(row["question"], passages) or ""
        if normal(row["must_contain"]) not in normal(reply):
            misses.append(f"[{row['split']}] {row['question']}\n  wants: {row['must_contain']}\n  got:   {reply}")
    return misses


def evaluate_conditions(knowledge: Any, settings: Settings, rows: list[dict[str, str]]) -> list[str]:
    """`amisses` from synchronous code (the command line)."""
    return asyncio.run(amisses(knowledge, settings, rows))
