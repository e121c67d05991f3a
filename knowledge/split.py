"""Split: a cleaned Document → chunks by section, within the embedding model's window.

all-MiniLM-L6-v2 reads at most 256 word pieces, so chunks are capped in words (a word is
about 1.3 pieces in English help text). Consecutive chunks of one section share a few
sentences of overlap, so a fact cut at a boundary is still whole in one of them.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from knowledge.text import split_sentences
from knowledge.types import Chunk, Document, Element


@dataclass(frozen=True)
class _Piece:
    text: str
    page: int | None
    glue: str  # how it joins the previous piece: list items stay on their own lines


def split(document: Document, max_words: int, overlap_words: int) -> list[Chunk]:
    chunks: list[Chunk] = []
    for section, pieces in _sections(document):
        current: list[_Piece] = []
        for piece in pieces:
            if current and _words(current + [piece]) > max_words:
                chunks.append(_chunk(document, section, current, len(chunks)))
                current = _overlap(current, overlap_words)
            current.append(piece)
        if current:
            chunks.append(_chunk(document, section, current, len(chunks)))
    return chunks


def _sections(document: Document) -> list[tuple[str, list[_Piece]]]:
    sections: list[tuple[str, list[_Piece]]] = [("", [])]
    for element in document.elements:
        if element.kind == "title":
            if element.text == document.title and not sections[-1][1] and len(sections) == 1:
                continue  # the document's own title heads every chunk anyway
            sections.append((element.text, []))
            continue
        sections[-1][1].extend(_pieces(element))
    return [(name, pieces) for name, pieces in sections if pieces]


def _pieces(element: Element) -> list[_Piece]:
    if element.kind in ("list_item", "table"):
        prefix = "- " if element.kind == "list_item" else ""
        return [_Piece(prefix + element.text, element.page, "\n")]
    sentences = split_sentences(element.text) or [element.text]
    return [_Piece(s, element.page, "\n\n" if i == 0 else " ") for i, s in enumerate(sentences)]


def _words(pieces: list[_Piece]) -> int:
    return sum(len(p.text.split()) for p in pieces)


def _overlap(previous: list[_Piece], overlap_words: int) -> list[_Piece]:
    kept: list[_Piece] = []
    for piece in reversed(previous):
        if _words(kept + [piece]) > overlap_words:
            break
        kept.insert(0, piece)
    return kept


def _chunk(document: Document, section: str, pieces: list[_Piece], index: int) -> Chunk:
    text = pieces[0].text + "".join(p.glue + p.text for p in pieces[1:])
    chunk_id = hashlib.sha1(f"{document.source}#{index}".encode()).hexdigest()[:20]
    return Chunk(
        id=chunk_id,
        text=text.strip(),
        source=document.source,
        title=document.title,
        section=section,
        page=next((p.page for p in pieces if p.page is not None), None),
    )
