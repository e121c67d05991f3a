"""The help centre's words for what customers say: "do you take Venmo?" is a question about "other
payment services", "I wore it twice" one about items that must be "unused".

MiniLM knows little of a shop's categories, and BM25 knows only the words it was given, so a question
naming an instance of a category the help centre states its rule for ("We do not accept ... other
payment services") finds neither the rule nor its section. The glossary, a plain text file a support
lead edits like the help centre itself, names each category and the words customers use for it; a
question that says one of those words is searched, and answered, with the category's name added.

File format, one category per line (blank lines and lines starting with # are ignored):

    other payment services: venmo, zelle, cash app
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from knowledge.errors import KnowledgeConfigError


@dataclass(frozen=True)
class Glossary:
    entries: tuple[tuple[str, re.Pattern[str]], ...] = ()

    @classmethod
    def parse(cls, text: str, origin: str = "glossary") -> Glossary:
        entries = []
        for number, line in enumerate(text.splitlines(), 1):
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            term, colon, said = line.partition(":")
            words = [w.strip() for w in said.split(",") if w.strip()]
            if not colon or not term.strip() or not words:
                raise KnowledgeConfigError(f"{origin}:{number}: expected 'help-centre term: word, word', got {line!r}")
            alternatives = "|".join(re.escape(w) for w in sorted(words, key=len, reverse=True))
            entries.append((term.strip(), re.compile(rf"(?<!\w)(?:{alternatives})(?!\w)", re.IGNORECASE)))
        return cls(tuple(entries))

    @classmethod
    def load(cls, path: Path | None) -> Glossary:
        """The glossary at `path`; empty when no path is configured."""
        if path is None:
            return cls()
        try:
            return cls.parse(path.read_text(encoding="utf-8"), str(path))
        except OSError as exc:
            raise KnowledgeConfigError(f"cannot read the glossary {path}: {exc}") from exc

    def terms(self, text: str) -> list[str]:
        """The help centre's terms for the words `text` uses (and does not already state), in the file's order."""
        return [term for term, said in self.entries if said.search(text) and not self.states(text, term)]

    @staticmethod
    def states(text: str, term: str) -> bool:
        """Whether `text` uses the help centre's term itself, as a passage that states its rule does."""
        return term.lower() in text.lower()

    def expand(self, text: str) -> str:
        """`text` with the help centre's terms for its words added: "do you take venmo? (other payment services)"."""
        terms = self.terms(text)
        return f"{text} ({'; '.join(terms)})" if terms else text
