"""Correct customers' typos against the knowledge base's own vocabulary before searching.

"I forgot my pasword" embeds far from "Resetting your password" and matches no BM25 term.
A word is corrected only when it is neither an English word nor in the corpus, and a
corpus word lies within a small edit distance, so out-of-scope words are never pulled
towards shop vocabulary ("pizza" stays "pizza").
"""

from __future__ import annotations

import re

from rapidfuzz import process
from rapidfuzz.distance import Levenshtein

_WORD = re.compile(r"[A-Za-z]+")
_MIN_LENGTH = 4  # shorter words have too many neighbours to correct safely
_LONG_WORD = 7  # from this length two edits are allowed, below it one


class SpellingCorrector:
    def __init__(self, corpus_words: set[str]) -> None:
        from unstructured.nlp.english_words import ENGLISH_WORDS

        self._english = ENGLISH_WORDS
        self._vocabulary = sorted(w for w in corpus_words if len(w) >= _MIN_LENGTH)
        self._known = set(self._vocabulary)

    @classmethod
    def from_texts(cls, texts: list[str]) -> SpellingCorrector:
        return cls({w.lower() for text in texts for w in _WORD.findall(text)})

    def correct(self, query: str) -> str:
        return _WORD.sub(lambda m: self._fix(m.group(0)), query)

    def _fix(self, word: str) -> str:
        lower = word.lower()
        if len(lower) < _MIN_LENGTH or lower in self._known or lower in self._english or not self._vocabulary:
            return word
        limit = 2 if len(lower) >= _LONG_WORD else 1
        match = process.extractOne(lower, self._vocabulary, scorer=Levenshtein.distance, score_cutoff=limit)
        return match[0] if match else word
