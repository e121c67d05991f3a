"""Split a Markdown document into heading-aware chunks that fit the embedding window."""

from __future__ import annotations

import hashlib
import re

from knowledge.types import Chunk

_HEADING = re.compile(r"^(#{1,3})\s+(.+?)\s*#*\s*$")
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9\"'(])")


def split_sentences(text: str) -> list[str]:
    flat = " ".join(line.strip().lstrip("-*").strip() for line in text.splitlines() if line.strip())
    return [s.strip() for s in _SENTENCE_END.split(flat) if s.strip()]


def _pieces(paragraph: str, max_words: int) -> list[str]:
    if len(paragraph.split()) <= max_words:
        return [paragraph]
    pieces, current = [], []
    for sentence in split_sentences(paragraph):
        if current and len(" ".join(current + [sentence]).split()) > max_words:
            pieces.append(" ".join(current))
            current = []
        current.append(sentence)
    return pieces + ([" ".join(current)] if current else [])


def _sections(text: str, fallback_title: str) -> tuple[str, list[tuple[str, list[str]]]]:
    title, sections = fallback_title, [("", [])]
    paragraph: list[str] = []

    def flush() -> None:
        if paragraph:
            sections[-1][1].append("\n".join(paragraph).strip())
            paragraph.clear()

    for line in text.splitlines():
        heading = _HEADING.match(line)
        if heading:
            flush()
            if len(heading.group(1)) == 1 and title == fallback_title:
                title = heading.group(2)
            else:
                sections.append((heading.group(2), []))
        elif line.strip():
            paragraph.append(line)
        else:
            flush()
    flush()
    return title, [(name, paras) for name, paras in sections if paras]


def split_markdown(text: str, source: str, max_words: int) -> list[Chunk]:
    fallback = source.rsplit("/", 1)[-1].rsplit(".", 1)[0].replace("-", " ").capitalize()
    title, sections = _sections(text, fallback)
    chunks: list[Chunk] = []
    for section, paragraphs in sections:
        current: list[str] = []
        for piece in (p for para in paragraphs for p in _pieces(para, max_words)):
            if current and len(" ".join(current + [piece]).split()) > max_words:
                chunks.append(_chunk(source, title, section, current, len(chunks)))
                current = []
            current.append(piece)
        if current:
            chunks.append(_chunk(source, title, section, current, len(chunks)))
    return chunks


def _chunk(source: str, title: str, section: str, pieces: list[str], index: int) -> Chunk:
    chunk_id = hashlib.sha1(f"{source}#{index}".encode()).hexdigest()[:20]
    return Chunk(id=chunk_id, text="\n\n".join(pieces), source=source, title=title, section=section)
