"""The one record that flows through ingestion and retrieval."""

from __future__ import annotations

from dataclasses import dataclass, replace


@dataclass(frozen=True)
class Chunk:
    id: str
    text: str
    source: str  # file name relative to the docs folder
    title: str
    section: str = ""

    def metadata(self) -> dict[str, str]:
        return {"source": self.source, "title": self.title, "section": self.section}


@dataclass(frozen=True)
class Passage:
    """A retrieved chunk with its similarity to the query (cosine, higher is closer)."""

    id: str
    text: str
    source: str
    title: str
    section: str = ""
    score: float = 0.0

    @property
    def citation(self) -> str:
        return f"{self.title} › {self.section}" if self.section and self.section != self.title else self.title

    def with_score(self, score: float) -> Passage:
        return replace(self, score=score)
