"""Route a customer's message to an intent with a classifier trained on hand-written examples.

A logistic regression (agent/offline/classifier.py) gives each intent a probability. `out_of_scope`
is a class with its own examples, hard negatives that share words with the shop's requests ("cancel
my gym membership", "track my flight"). A message is out of scope when that class wins, when the
best intent's probability is under `threshold` (chosen on dev data: `python -m agent.eval
calibrate`), or when it resembles no example at all (nearest-example similarity under
`min_similarity`: gibberish is not understood, rather than confidently out of scope), unless
the classifier gives one of the shop's intents at least `understood_threshold` (new words for a
clear request). Under the threshold, a message torn between two store flows whose out-of-scope
probability is tiny (at most 1 - `in_scope_threshold`) still goes to the likelier one, marked
not `clear`. A message that names
another business or domain (data/elsewhere.txt: "gym membership", "walmart", "flight") never
starts a store flow unless it carries one of our order ids. One of the shop's own order ids also
lifts the probability bar: the message is about this shop.

Before classifying, misspelt words are corrected against the examples' vocabulary, and order ids,
emails and sentences that only give details (name, zip) are set aside: they are slot values, not
intent. A message made only of details routes to `inform`. Long messages are routed as a whole
and sentence by sentence: "Hi there. I bought headphones last week and they broke. I want to
return them" is a return, not a greeting.
"""

from __future__ import annotations

import re
import threading
from collections import Counter
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from cachetools import LRUCache
from rapidfuzz import process
from rapidfuzz.distance import OSA

from agent.offline import entities
from agent.offline.classifier import ClassifierOptions, IntentClassifier
from agent.offline.training_cache import cache_key, trained
from agent.offline.intents import (
    BUSINESSES_PATH, GOODBYE, GREETING, INFORM, OUT_OF_SCOPE, SOCIAL, STORE_FLOWS, THANKS, load_elsewhere,
    load_examples, normalize,
)
from agent.settings import OfflineSettings
from knowledge.embedder import Embedder

_MODEL_PROBE = "where is my order"
_PROBE_DECIMALS = 4  # thread counts and batch sizes move the last digits of a vector, not the model
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+|\n+")
_WORD = re.compile(r"[A-Za-z]+")
_MIN_TYPO_LENGTH = 4  # shorter words have too many neighbours to correct safely
_LONG_WORD = 8  # from this length two edits are tolerated
# Short messages the model embeds poorly ("ty", "yo"), answered without it.
_EXACT_SMALL_TALK = {
    **dict.fromkeys(("hi", "hello", "hey", "hiya", "yo", "howdy"), GREETING),
    **dict.fromkeys(("thanks", "thank you", "thx", "ty", "tysm", "cheers", "thank u"), THANKS),
    **dict.fromkeys(("bye", "goodbye", "bye bye", "cya", "see ya"), GOODBYE),
}
# Words that may surround details (order id, email, name, zip) in a message that asks for nothing.
_FILLER = frozenset(
    "order number no id it is its s my email the here and zip code zipcode postal name i m im am this "
    "me hi hello hey".split()
)


@dataclass(frozen=True)
class Routing:
    """Where a message goes, with the probabilities that decided it.

    Out of scope, `score` is out_of_scope's and `runner_up` the best store guess. `known` says whether
    the message resembles any example at all: an unknown message was not understood, which is
    different from understood and not ours.
    """

    intent: str
    score: float
    runner_up: str
    runner_up_score: float
    in_scope: bool
    known: bool = True
    # False when no intent reached the probability bar and the message went to its likeliest request only
    # because it is surely ours: a whole message is served so, a fragment of one is not a request of its own.
    clear: bool = True


class IntentRouter:
    def __init__(
        self,
        embedder: Embedder,
        examples: dict[str, list[str]],
        threshold: float,
        min_similarity: float,
        options: ClassifierOptions,
        elsewhere: frozenset[str] = frozenset(),
        cache_dir: Path | None = None,
        in_scope_threshold: float = 1.0,
        understood_threshold: float = 1.0,
        recent: int = 0,
        businesses: frozenset[str] = frozenset(),
    ) -> None:
        if OUT_OF_SCOPE not in examples:
            raise ValueError("the examples need an out_of_scope list: it is how the router says no")
        self.embedder = embedder
        self.threshold = threshold
        self.min_similarity = min_similarity
        self.in_scope_threshold = in_scope_threshold
        self.understood_threshold = understood_threshold
        self._elsewhere = _phrase_pattern(elsewhere)
        self._at_business = _at_business_pattern(businesses)
        texts = [_clean(text) for intent in examples for text in examples[intent]]
        labels = [intent for intent in examples for _ in examples[intent]]
        # The probe's vector stands for the model: new weights under the same path train afresh.
        probe = np.round(embedder.embed([_MODEL_PROBE])[0], _PROBE_DECIMALS).tolist()
        key = cache_key(texts, labels, asdict(options), probe)
        self._classifier = trained(cache_dir, "router", key,
                                   lambda: IntentClassifier(texts, labels, embedder.embed(texts), options))
        self._dimensions = self._classifier.dimensions
        self._typos = TypoCorrector([text for intent in examples for text in examples[intent]])
        # The same text routes the same way: a turn routes the message for the engine and again for the facts'
        # intent tag, and a split message its whole; each is classified once.
        self._recent_size = recent
        self._forget()

    @classmethod
    def from_settings(cls, embedder: Embedder, settings: OfflineSettings) -> IntentRouter:
        """The router over the shipped examples, with the calibrated limits."""
        options = ClassifierOptions(settings.intent_regularization, settings.intent_lexical_weight, settings.intent_top_k)
        return cls(embedder, load_examples(), settings.intent_threshold, settings.intent_min_similarity, options,
                   load_elsewhere(), settings.router_cache_dir, settings.intent_in_scope_threshold,
                   settings.intent_understood_threshold, settings.routing_cache_size,
                   load_elsewhere(BUSINESSES_PATH))

    def with_limits(self, threshold: float, min_similarity: float) -> IntentRouter:
        """The same router deciding with other limits; shares the trained model (for calibration)."""
        clone = object.__new__(IntentRouter)
        clone.__dict__.update(self.__dict__, threshold=threshold, min_similarity=min_similarity)
        clone._forget()  # its decisions differ from this router's
        return clone

    def _forget(self) -> None:
        """An empty memory of recent decisions (none when `recent` is 0)."""
        self._recent: LRUCache[str, Routing] | None = LRUCache(maxsize=self._recent_size) if self._recent_size else None
        self._recent_lock = threading.Lock()

    def route(self, text: str) -> Routing:
        return self.route_many([text])[0]

    def recent(self, text: str) -> Routing | None:
        """The routing of `text` if it was routed lately, else None; never embeds."""
        if self._recent is None:
            return None
        with self._recent_lock:
            return self._recent.get(text)

    def route_many(self, texts: list[str]) -> list[Routing]:
        """Route a batch: one embedding call for every message and sentence not routed lately."""
        if self._recent is None:
            return self._route_many(texts)
        with self._recent_lock:
            known = {text: routing for text in texts if (routing := self._recent.get(text)) is not None}
        new = [text for text in dict.fromkeys(texts) if text not in known]
        if new:
            fresh = dict(zip(new, self._route_many(new), strict=True))
            with self._recent_lock:
                self._recent.update(fresh)
            known |= fresh
        return [known[text] for text in texts]

    def _route_many(self, texts: list[str]) -> list[Routing]:
        results: list[Routing | None] = [_rule(text) for text in texts]
        units = [
            _units(self._typos.correct(text)) if result is None else []
            for text, result in zip(texts, results, strict=True)
        ]
        ours = [bool(entities.order_ids(text)) for text in texts]
        pending = [index for index, group in enumerate(units) if group]
        # The whole messages first: a message's sentences decide only when the whole asks nothing of the shop
        # (`_strongest`), so a long request is embedded once, not once more sentence by sentence.
        decided = {index: [routing] for index, routing in zip(
            pending, self._decisions([units[i][0] for i in pending], [ours[i] for i in pending]), strict=True)}
        sentences = [(index, unit) for index in pending if len(units[index]) > 1 and not _asks(decided[index][0])
                     for unit in units[index][1:]]
        for (index, _), routing in zip(
                sentences, self._decisions([unit for _, unit in sentences], [ours[i] for i, _ in sentences]),
                strict=True):
            decided[index].append(routing)
        for index in pending:
            decision = _strongest(decided[index])
            if not ours[index] and decision.intent in STORE_FLOWS and self._names_elsewhere(texts[index]):
                decision = Routing(OUT_OF_SCOPE, decision.score, decision.intent, decision.score, in_scope=False)
            results[index] = decision
        return results  # type: ignore[return-value]  # every None was replaced above

    def _decisions(self, units: list[str], ours: list[bool]) -> list[Routing]:
        """Each unit's routing, from one embedding call."""
        if not units:
            return []
        vectors = self._embed(units)
        probabilities = self._classifier.probabilities(units, vectors)
        # The nearest examples matter only where the classifier is not sure of one of the shop's requests
        # (`_decide`: a sure one is understood whatever they say); 1.0 stands in for the rest.
        best = probabilities.max(axis=1)
        out = probabilities[:, self._classifier.classes.index(OUT_OF_SCOPE)]
        unsure = np.flatnonzero((out >= best) | (best < self.understood_threshold))
        similarity = np.ones(len(units))
        if len(unsure):
            similarity[unsure] = self._classifier.similarity(vectors[unsure])
        return [self._decide(probabilities[i], float(similarity[i]), ours[i]) for i in range(len(units))]

    def _names_elsewhere(self, text: str) -> bool:
        lowered = text.lower()
        if self._elsewhere is not None and self._elsewhere.search(lowered):
            return True
        # "from a store ... your site": the customer means us after all.
        return self._at_business is not None and not _OURS.search(lowered) and bool(self._at_business.search(lowered))

    def _embed(self, texts: list[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self._dimensions), dtype=np.float32)
        return self.embedder.embed(texts)  # the embedder keeps recent texts: re-deciding a data set is free

    def _decide(self, row: np.ndarray, similarity: float, ours: bool) -> Routing:
        classes = self._classifier.classes
        order = np.argsort(-row)
        best, second = classes[order[0]], classes[order[1]]
        known = similarity >= self.min_similarity
        if best == OUT_OF_SCOPE:
            return Routing(OUT_OF_SCOPE, float(row[order[0]]), second, float(row[order[1]]), False, known)
        out_score = float(row[classes.index(OUT_OF_SCOPE)])
        best_score = float(row[order[0]])
        # Few examples resemble a message that is new in its words ("could I get the 90 inch length instead" for
        # short curtains), yet the classifier can be sure of it; below the floor, only that sureness counts.
        known = known or best_score >= self.understood_threshold
        # One of the shop's own order ids proves the message is about this shop: the likeliest request goes ahead.
        # So does a message that is almost surely ours, only torn between two of our requests ("before it ships,
        # swap the tee to a medium": a change or an exchange): out of scope would answer neither.
        unclear = best_score < self.threshold and not ours
        torn = (self.in_scope_threshold < 1 and best in STORE_FLOWS and second in STORE_FLOWS
                and 1 - out_score >= self.in_scope_threshold)  # 1 is "never", whatever float rounding says
        if not known or (unclear and not torn):
            return Routing(OUT_OF_SCOPE, out_score, best, best_score, False, known)
        return Routing(best, best_score, second, float(row[order[1]]), True, known, clear=not unclear)


class TypoCorrector:
    """Fix misspelt words against the examples' vocabulary: "cancle my ordr" -> "cancel my order".

    The model splits an unknown spelling into word pieces that mean nothing. A word is corrected
    only when it is neither an English word nor a word of the examples, and one edit (two for long
    words; a swap of neighbours counts as one) separates it from an example word. The examples carry
    a few typos on purpose; a word seen once that is not English ("cancle") is not vocabulary.
    """

    def __init__(self, texts: list[str]) -> None:
        from unstructured.nlp.english_words import ENGLISH_WORDS  # a dependency already, via knowledge

        counts = Counter(word for text in texts for word in set(_WORD.findall(text.lower())))
        self._english = ENGLISH_WORDS
        # Frequent words first: of two equally close candidates, the common one is the likely intent.
        self._vocabulary = [
            word for word, count in counts.most_common()
            if len(word) >= _MIN_TYPO_LENGTH and (word in ENGLISH_WORDS or count > 1)
        ]
        self._known = set(self._vocabulary)

    def correct(self, text: str) -> str:
        return _WORD.sub(lambda match: self._fix(match.group(0)), text)

    def _fix(self, word: str) -> str:
        lower = word.lower()
        if len(lower) < _MIN_TYPO_LENGTH or lower in self._known or lower in self._english:
            return word
        limit = 2 if len(lower) >= _LONG_WORD else 1
        match = process.extractOne(lower, self._vocabulary, scorer=OSA.distance, score_cutoff=limit)
        return match[0] if match else word


def _phrase_pattern(phrases: frozenset[str]) -> re.Pattern[str] | None:
    if not phrases:
        return None
    return re.compile(r"\b(?:" + "|".join(re.escape(p) for p in sorted(phrases, key=len, reverse=True)) + r")\b")


_OURS = re.compile(r"\b(your|yours|you guys|larkspur)\b")
_PLAIN = frozenset({"shop", "store"})  # the words a customer may use of us too: another business only when described


def _at_business_pattern(kinds: frozenset[str]) -> re.Pattern[str] | None:
    """A purchase placed at a kind of business ("ordered a dress from a boutique", "an order I placed with a furniture
    maker"): an indefinite one is never us; up to two words may describe it ("from some random site"). Only after a
    word of buying, so "found it cheaper at another store" or "came with an app" stay requests to us."""
    if not kinds:
        return None
    names = "|".join(re.escape(k) for k in sorted(kinds - _PLAIN, key=len, reverse=True))
    plain = "|".join(sorted(kinds & _PLAIN))
    place = (rf"(?:(?:a|an|another|some|other)\s+(?:[\w'-]+\s+){{0,2}}?(?:{names})"
             # "bought it from a shop" may be ours; "from another shop", "from a local shop" are not
             rf"|(?:another|other)\s+(?:[\w'-]+\s+){{0,2}}?(?:{plain})|(?:a|an|some)\s+(?:[\w'-]+\s+){{1,2}}?(?:{plain}))")
    return re.compile(r"\b(?:order|ordered|bought|buy|purchased|placed|booked|rented|paid)\b(?:\s+[\w'$-]+){0,5}?"
                      r"\s+(?:from|at|with|through|via)\s+" + place + r"(?:s|es)?\b")


def _clean(text: str) -> str:
    """The message with order ids said as "order" and without emails: their word pieces are noise."""
    return " ".join(entities.ids_as_words(text).split()) or text


def _units(text: str) -> list[str]:
    """The whole message, then each of its sentences when there are several.

    Sentences that only give details ("My name is Jo Park and my zip is 60614.") are slot values
    for the dialogue manager, not a request, and would pull the whole message off its topic.
    """
    parts = [part for part in _SENTENCE_END.split(text.strip()) if part.strip()]
    requests = [part for part in parts if not _only_details(part)] or parts
    sentences = [s for s in (_clean(part) for part in requests) if s]
    return [" ".join(sentences) or _clean(text)] + (sentences if len(sentences) > 1 else [])


def _only_details(text: str) -> bool:
    """The text gives an order id, an email, a name or a zip code, and asks for nothing."""
    details = entities.order_ids(text) + entities.emails(text) + entities.zip_codes(text)
    name = entities.person_name(text)
    if not details and name is None:
        return False
    rest = normalize(entities.without_identifiers(text)).split()
    spoken = {word.lower() for word in name or ()} | set(entities.zip_codes(text))
    return all(word in _FILLER or word in spoken for word in rest)


def _asks(routing: Routing) -> bool:
    return routing.in_scope and routing.intent not in SOCIAL


def _strongest(decisions: list[Routing]) -> Routing:
    """The whole message when it asks for something; else its most confident request sentence.

    The whole text keeps the gist ("my order hasn't shipped. can I change the headphones?" is a
    change, not a status question); a sentence only rescues a message whose greeting or story
    drowned the request. A lone "Hi." never makes an out-of-scope message a greeting.
    """
    whole = decisions[0]
    if _asks(whole):
        return whole
    requests = [d for d in decisions[1:] if _asks(d)]
    return max(requests, key=lambda d: d.score) if requests else whole


def _rule(text: str) -> Routing | None:
    """Unambiguous messages the embeddings need not see: bare small talk, bare identifiers."""
    plain = normalize(text)
    if not plain:
        return Routing(OUT_OF_SCOPE, 0.0, OUT_OF_SCOPE, 0.0, in_scope=False)
    if plain in _EXACT_SMALL_TALK:
        return Routing(_EXACT_SMALL_TALK[plain], 1.0, OUT_OF_SCOPE, 0.0, in_scope=True)
    if _only_details(text):
        return Routing(INFORM, 1.0, OUT_OF_SCOPE, 0.0, in_scope=True)
    return None
