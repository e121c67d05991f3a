"""Clean: tidy element text and drop what carries no meaning (page furniture, empties)."""

from __future__ import annotations

import re
from collections import Counter

from knowledge.types import Document, Element

_SPACES = re.compile(r"[ \t\u00a0]+")
_NO_WORDS = re.compile(r"^[\W\d_]*$")  # page numbers, rules, bullets on their own
_RUNNING_LINE_CHARS = 80  # headers and footers are short
_MIN_RUNNING_PAGES = 3


def clean(document: Document) -> Document:
    pages = {e.page for e in document.elements if e.page is not None}
    repeated = _running_lines(document.elements) if len(pages) >= _MIN_RUNNING_PAGES else set()
    kept = []
    for element in document.elements:
        text = _SPACES.sub(" ", element.text).strip()
        if not text or _NO_WORDS.match(text) or (element.kind != "title" and text in repeated):
            continue
        kept.append(Element(element.kind, text, element.depth, element.page))
    document.elements = kept
    return document


def _running_lines(elements: list[Element]) -> set[str]:
    """Short lines printed on at least half the pages: headers and footers of a PDF."""
    pages = {e.page for e in elements if e.page is not None}
    on_pages = {(e.page, e.text.strip()) for e in elements if e.page is not None and len(e.text) < _RUNNING_LINE_CHARS}
    counts = Counter(text for _page, text in on_pages)
    return {text for text, count in counts.items() if count >= max(_MIN_RUNNING_PAGES, len(pages) / 2)}
