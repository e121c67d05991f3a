"""The intent classifier: a logistic regression over a message's meaning and its words.

Features are the MiniLM embedding (standardised) beside TF-IDF word unigrams and bigrams. The
embedding carries paraphrase ("wheres my stuff" ~ "where is my order"); the words carry what the
embedding blurs, that "return" and "refund" differ, and that "track my order" is not "track my
flight". Out of scope is a class like the others, trained on hard negatives, so the model learns
where the shop's requests end instead of being told by a hand-set margin. Probabilities decide;
the nearest examples' similarity only says whether the message resembles anything we know.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import numpy as np
from scipy.sparse import csr_matrix, hstack
from scipy.special import softmax
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
        self.dimensions = vectors.shape[1]
        self._scaler = StandardScaler().fit(vectors)
        self._words = TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True).fit(texts)
        self._model = LogisticRegression(C=options.regularization, max_iter=_MAX_ITERATIONS)
        self._model.fit(self._features(texts, vectors), labels)
        self.classes = [str(c) for c in self._model.classes_]
        self._fold()
        # Examples grouped by intent, so each intent's similarities are one contiguous slice (a view, not a copy).
        rows = np.array(labels)
        members = [np.flatnonzero(rows == intent) for intent in self.intents]
        self._grouped = vectors[np.concatenate(members)].T.copy()
        self._bounds = np.cumsum([0, *(len(m) for m in members)])

    def _fold(self) -> None:
        """The trained model as plain arrays, for `probabilities`.

        sklearn's transform and predict_proba validate their input, build sparse matrices and stack them: under
        a millisecond per call, but a turn calls them several times and a hundred chats hold the GIL for it.
        The scaler is linear, so it folds into the meaning block's weights; the words' weights are looked up per
        vocabulary column. tests/test_intent_classifier.py checks the result against predict_proba.
        """
        coef, intercept = self._model.coef_, self._model.intercept_
        scale = self._scaler.scale_ * np.sqrt(self.dimensions)
        meaning = coef[:, : self.dimensions] / scale  # (classes, dimensions)
        self._meaning_weights = meaning.T.astype(np.float64)
        self._bias = intercept - meaning @ self._scaler.mean_
        self._word_weights = (coef[:, self.dimensions:] * self.options.lexical_weight).T.copy()  # (vocabulary, classes)
        self._analyze = self._words.build_analyzer()
        self._vocabulary = self._words.vocabulary_
        self._idf = self._words.idf_

    def probabilities(self, texts: list[str], vectors: np.ndarray) -> np.ndarray:
        """(messages, classes) in the order of `self.classes`."""
        if not texts:
            return np.zeros((0, len(self.classes)))
        logits = vectors.astype(np.float64) @ self._meaning_weights + self._bias
        for row, text in enumerate(texts):
            logits[row] += self._words_logits(text)
        if len(self.classes) == 2:  # sklearn's binary model has one weight row: the second class's logit
            logits = np.column_stack([np.zeros(len(texts)), logits[:, 0]])
        return softmax(logits, axis=1)

    def _words_logits(self, text: str) -> np.ndarray:
        """TF-IDF as fitted (sublinear tf, idf, unit length) times the words' weights, for the known terms."""
        counts = Counter(term for term in self._analyze(text) if term in self._vocabulary)
        if not counts:
            return np.zeros(self._word_weights.shape[1])
        columns = np.fromiter((self._vocabulary[term] for term in counts), dtype=np.intp, count=len(counts))
        values = (1.0 + np.log(np.fromiter(counts.values(), dtype=np.float64, count=len(counts)))) * self._idf[columns]
        return (values / np.linalg.norm(values)) @ self._word_weights[columns]

    def similarity(self, vectors: np.ndarray) -> np.ndarray:
        """Per message, the best intent's mean similarity to its `top_k` nearest examples."""
        if len(vectors) == 0:
            return np.zeros(0)
        similarities = vectors @ self._grouped
        best = np.full(len(vectors), -1.0)
        for start, end in zip(self._bounds[:-1], self._bounds[1:], strict=True):
            k = min(self.options.top_k, int(end - start))
            block = np.partition(similarities[:, start:end], -k, axis=1)[:, -k:].mean(axis=1)
            best = np.maximum(best, block)
        return best

    def _features(self, texts: list[str], vectors: np.ndarray) -> csr_matrix:
        # Dividing by sqrt(dim) puts the dense block on the scale of the unit-length TF-IDF rows.
        meaning = self._scaler.transform(vectors) / np.sqrt(vectors.shape[1])
        return hstack([csr_matrix(meaning), self._words.transform(texts) * self.options.lexical_weight]).tocsr()
