"""The intent classifier's own arithmetic against sklearn's: the folded weights must decide exactly as the fitted
scaler, TF-IDF and logistic regression would, for the shipped examples and for messages it never saw."""

from __future__ import annotations

import numpy as np
import pytest

from agent.offline.classifier import ClassifierOptions, IntentClassifier
from agent.offline.intents import load_examples

UNSEEN = [
    "where is my order #W1001001",
    "what is your return policy for opened electronics? I opened the box yesterday",
    "cancel cancel cancel my order and refund refund it",  # repeated words: sublinear tf
    "zzzz qqqq",  # no known word: the words add nothing
    "",
    "track my flight to Boston",
]


@pytest.fixture(scope="module")
def fitted(embedder):
    examples = load_examples()
    texts = [text for intent in examples for text in examples[intent]]
    labels = [intent for intent in examples for _ in examples[intent]]
    options = ClassifierOptions(regularization=4.0, lexical_weight=1.5, top_k=3)
    return IntentClassifier(texts, labels, embedder.embed(texts), options), texts


def sklearn_probabilities(classifier: IntentClassifier, texts: list[str], vectors: np.ndarray) -> np.ndarray:
    return classifier._model.predict_proba(classifier._features(texts, vectors))


def test_probabilities_equal_sklearns(fitted, embedder):
    classifier, texts = fitted
    sample = texts[::25] + UNSEEN
    vectors = embedder.embed(sample)
    ours = classifier.probabilities(sample, vectors)
    np.testing.assert_allclose(ours, sklearn_probabilities(classifier, sample, vectors), atol=1e-9)
    assert ours.shape == (len(sample), len(classifier.classes))


def test_similarity_is_the_best_intents_mean_of_its_nearest_examples(fitted, embedder):
    classifier, texts = fitted
    examples = load_examples()
    vectors = embedder.embed(UNSEEN)
    every = embedder.embed(texts)
    expected = np.full(len(UNSEEN), -1.0)
    start = 0
    for intent in classifier.intents:  # the examples in their file order, intent by intent
        block = vectors @ every[start:start + len(examples[intent])].T
        start += len(examples[intent])
        expected = np.maximum(expected, np.sort(block, axis=1)[:, -3:].mean(axis=1))
    np.testing.assert_allclose(classifier.similarity(vectors), expected, atol=1e-6)


def test_two_classes_give_sklearns_binary_probabilities(embedder):
    texts = ["where is my order", "track my package", "has it shipped", "cancel my gym", "book a flight", "weather"]
    labels = ["order_status"] * 3 + ["out_of_scope"] * 3
    classifier = IntentClassifier(texts, labels, embedder.embed(texts), ClassifierOptions(1.0, 1.0, 2))
    vectors = embedder.embed(UNSEEN)
    np.testing.assert_allclose(classifier.probabilities(UNSEEN, vectors),
                               sklearn_probabilities(classifier, UNSEEN, vectors), atol=1e-9)
