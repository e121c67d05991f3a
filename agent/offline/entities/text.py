"""What every extractor here shares: words of a message, typo-tolerant keywords, and plain lower-case text.

Keywords tolerate a typo ("acidentally", "keybaord") by edit distance, never short words.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from rapidfuzz.distance import OSA

_TOKEN = re.compile(r"[a-z0-9]+(?:[-'][a-z0-9]+)*")
_MIN_FUZZY_LENGTH = 5  # shorter words have too many neighbours ("card" ~ "cart", "hard")
_LONG_WORD = 8  # from this length two edits are tolerated


def _tokens(text: str) -> list[str]:
    return _TOKEN.findall(text.lower())


def _close(word: str, keyword: str) -> bool:
    if word == keyword:
        return True
    if len(keyword) < _MIN_FUZZY_LENGTH or abs(len(word) - len(keyword)) > 2:
        return False
    return OSA.distance(word, keyword) <= (2 if len(keyword) >= _LONG_WORD else 1)


def _correct(text: str, vocabulary: Iterable[str]) -> str:
    """Lower-cased text with each word close to a keyword replaced by it."""
    words = sorted(set(vocabulary))
    fixed = []
    for token in _tokens(text):
        match = next((w for w in words if _close(token, w)), token) if token not in words else token
        fixed.append(match)
    return " ".join(fixed)


_REPEATED_LETTER = re.compile(r"([a-z])\1{2,}")


def _plain(text: str) -> str:
    """Lower case, straight apostrophes, no drawn-out letters ("yesss", "nooo")."""
    lowered = text.lower().replace("\u2019", "'").strip()
    return re.sub(r"\byess\b", "yes", _REPEATED_LETTER.sub(r"\1", lowered))
