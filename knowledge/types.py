"""The records that flow through ingestion (Document → Chunk) and retrieval (Passage)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Literal

ElementKind = Literal["title", "text", "list_item", "table"]


@dataclass(frozen=True)
class Element:
    kind: ElementKind
    text: str
    depth: int = 0  # heading level for titles, 0 when unknown
    page: int | None = None


@dataclass
class Document:
    source: str  # a stable name: the path relative to the ingested folder, or an upload's file name
    content_hash: str
    title: str = ""
    elements: list[Element] = field(default_factory=list)
    kind: str = ""  # detected file type, e.g. "pdf"


@dataclass(frozen=True)
class Chunk:
    id: str
    text: str
    source: str
    title: str
    section: str = ""
    page: int | None = None
    # Stored beside the text, e.g. the ingested version of its document; not part of its identity.
    extra: Mapping[str, str | int] = field(default_factory=dict, compare=False)

    def metadata(self) -> dict[str, str | int]:
        meta: dict[str, str | int] = {"source": self.source, "title": self.title, "section": self.section}
        if self.page is not None:
            meta["page"] = self.page
        return meta | dict(self.extra)


@dataclass(frozen=True)
class Passage:
    """A retrieved chunk with its similarity to the query (cosine, higher is closer)."""

    id: str
    text: str
    source: str
    title: str
    section: str = ""
    score: float = 0.0
    page: int | None = None
    origin: Literal["knowledge", "upload"] = "knowledge"  # uploads are the customer's, never our policy

    @property
    def citation(self) -> str:
        name = self.source if self.origin == "upload" else self.title  # a customer knows their file by its name
        label = f"{name} › {self.section}" if self.section and self.section != name else name
        return f"{label}, p. {self.page}" if self.page else label

    def with_score(self, score: float) -> Passage:
        return replace(self, score=score)
