"""The intent classifier: a logistic regression over a message's meaning and its words.

Features are the MiniLM embedding (standardised) beside TF-IDF word unigrams and bigrams. The
embedding carries paraphrase ("wheres my stuff" ~ "where is my order"); the words carry what the
embedding blurs, that "return" and "refund" differ, and that "track my order" is not "track my
flight". Out of scope is a class like the others, trained on hard negatives, so the model learns
where the shop's requests end instead of being told by a hand-set margin. Probabilities decide;
the nearest examples' similarity only says whether the message resembles anything we know.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.sparse import csr_matrix, hstack
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import StandardScaler

_MAX_ITERATIONS = 5000  # lbfgs converges in a few hundred on the shipped examples; this is a safety bound


@dataclass(frozen=True)
class ClassifierOptions:
    regularization: float  # LogisticRegression's C: larger fits the examples more closely
    lexical_weight: float  # how much the words count beside the meaning
    top_k: int  # nearest examples averaged into an intent's similarity


class IntentClassifier:
    def __init__(self, texts: list[str], labels: list[str], vectors: np.ndarray, options: ClassifierOptions) -> None:
        self.options = options
        self.intents = list(dict.fromkeys(labels))
        self._vectors = vectors
        self.dimensions = vectors.shape[1]
        self._scaler = StandardScaler().fit(vectors)
        self._words = TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True).fit(texts)
        self._model = LogisticRegression(C=options.regularization, max_iter=_MAX_ITERATIONS)
        self._model.fit(self._features(texts, vectors), labels)
        self.classes = [str(c) for c in self._model.classes_]
        rows = np.array(labels)
        self._members = [np.flatnonzero(rows == intent) for intent in self.intents]

    def probabilities(self, texts: list[str], vectors: np.ndarray) -> np.ndarray:
        """(messages, classes) in the order of `self.classes`."""
        if not texts:
            return np.zeros((0, len(self.classes)))
        return self._model.predict_proba(self._features(texts, vectors))

    def similarity(self, vectors: np.ndarray) -> np.ndarray:
        """Per message, the best intent's mean similarity to its `top_k` nearest examples."""
        if len(vectors) == 0:
            return np.zeros(0)
        similarities = vectors @ self._vectors.T
        best = np.full(len(vectors), -1.0)
        for members in self._members:
            k = min(self.options.top_k, len(members))
            block = np.sort(similarities[:, members], axis=1)[:, -k:].mean(axis=1)
            best = np.maximum(best, block)
        return best

    def _features(self, texts: list[str], vectors: np.ndarray) -> csr_matrix:
        # Dividing by sqrt(dim) puts the dense block on the scale of the unit-length TF-IDF rows.
        meaning = self._scaler.transform(vectors) / np.sqrt(vectors.shape[1])
        return hstack([csr_matrix(meaning), self._words.transform(texts) * self.options.lexical_weight]).tocsr()
