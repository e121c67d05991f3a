"""Split a Markdown document into heading-aware chunks that fit the embedding window."""

from __future__ import annotations

import hashlib
import re

from knowledge.types import Chunk

_HEADING = re.compile(r"^(#{1,3})\s+(.+?)\s*#*\s*$")
_SENTENCE_END = re.compile(r"(?:(?<=[.!?])|(?<=[.!?][\"'”’)]))\s+(?=[A-Z0-9\"'“(])")


_BULLET = re.compile(r"^\s*(?:[-*+]|\d+[.)])\s+")
_SHORT_ITEM_WORDS = 15  # longer items read as sentences of their own
_TABLE_RULE = re.compile(r"^\|?[\s:|-]+\|?$")


def _cells(line: str) -> list[str]:
    return [cell.strip() for cell in line.strip().strip("|").split("|")]


def flatten_tables(text: str) -> str:
    """Rewrite Markdown table rows as sentences ("Standard: delivery time 5-7 days; cost $5.99.").

    A row means nothing quoted on its own without its column names.
    """
    out: list[str] = []
    header: list[str] | None = None
    for line in text.splitlines():
        stripped = line.strip()
        if not stripped.startswith("|"):
            header = None
            out.append(line)
        elif _TABLE_RULE.match(stripped):
            continue
        elif header is None:
            header = _cells(stripped)
        else:
            cells = _cells(stripped)
            pairs = [f"{name.lower()} {value}" for name, value in zip(header[1:], cells[1:], strict=False) if value]
            out.append(f"{cells[0]}: {'; '.join(pairs)}.")
    return "\n".join(out)


def split_sentences(text: str) -> list[str]:
    """Sentences of a passage. List items are sentences of their own, except that a
    list introduced by a colon joins its lead-in ("We ship to: Canada, the UK, Australia.")."""
    units: list[str] = []
    in_paragraph = gathering = False
    for line in text.replace("**", "").splitlines():
        if not line.strip():
            in_paragraph = gathering = False
            continue
        is_item = bool(_BULLET.match(line))
        item = _BULLET.sub("", line).strip()
        if is_item and gathering:
            units[-1] = units[-1].rstrip(".") + ", " + item.rstrip(".;,") + "."
        elif is_item and units and units[-1].endswith(":") and len(item.split()) <= _SHORT_ITEM_WORDS:
            units[-1] = units[-1] + " " + item.rstrip(".;,") + "."
            gathering = True
        elif is_item:
            units.append(item if item[-1] in ".!?:" else item + ".")
            in_paragraph = gathering = False
        elif in_paragraph:
            units[-1] += " " + item
        else:
            units.append(item)
            in_paragraph, gathering = True, False
    return [s.strip() for unit in units for s in _SENTENCE_END.split(unit) if s.strip()]


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

    for line in flatten_tables(text).splitlines():
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
