"""Sentence and table helpers shared by chunking and the offline answer engine."""

from __future__ import annotations

import re
from html.parser import HTMLParser

_SENTENCE_END = re.compile(r"(?:(?<=[.!?])|(?<=[.!?][\"'”’)]))\s+(?=[A-Z0-9\"'“(])")
_BULLET = re.compile(r"^\s*(?:[-*+•]|\d+[.)])\s+")
_SHORT_ITEM_WORDS = 15  # longer list items read as sentences of their own


def in_context(title: str, section: str, sentence: str) -> str:
    """A sentence as read with its article and section ("Warranty - Warranty Length: All electronics ... come
    with a 1-year limited warranty"): alone, a rule often never names what it is about."""
    return f"{title} - {section}: {sentence}"


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


class _TableParser(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.rows: list[list[str]] = []
        self._cell: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: object) -> None:
        if tag == "tr":
            self.rows.append([])
        elif tag in ("td", "th"):
            self._cell = []

    def handle_endtag(self, tag: str) -> None:
        if tag in ("td", "th") and self._cell is not None and self.rows:
            self.rows[-1].append(" ".join("".join(self._cell).split()))
            self._cell = None

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)


def table_sentences(html: str) -> list[str]:
    """One sentence per row, naming each column: a quoted row keeps its meaning.

    "Standard: delivery time 5-7 business days; price $5.99."
    """
    parser = _TableParser()
    parser.feed(html)
    rows = [row for row in parser.rows if any(row)]
    if len(rows) < 2:
        return [" ".join(cell for row in rows for cell in row)] if rows else []
    header, body = rows[0], rows[1:]
    sentences = []
    for row in body:
        pairs = [f"{name.lower()} {value}" for name, value in zip(header[1:], row[1:], strict=False) if value]
        sentences.append(f"{row[0]}: {'; '.join(pairs)}." if pairs else f"{row[0]}.")
    return sentences
