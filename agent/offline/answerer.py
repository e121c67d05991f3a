"""The extractive answerer: help-centre answers quoted from retrieved passages, without an LLM.

A plain component the dialogue engine calls: it quotes the sentences that best answer the question,
each cited as [n] (the passage's position in the list it is given). With nothing that answers the
question it returns None, and the caller says it doesn't know rather than guess.

A sentence is scored by its meaning (MiniLM similarity to the question, the sentence read alone or with
its article's title and section heading) and by the question's
specifics it names (the question's rarer words: "Canada", "PO box", "headphones"), because the
sentence closest in meaning is often a neighbour of the rule rather than the rule. A quoted sentence
brings the sentence next to it that conditions it ("only", "unless", "within"...), and the rule its
section opens with, so an answer never drops the condition that decides the question; the best sentence
comes with the sentences beside it, and the passage retrieval ranked first (the section that matches the whole
question) with its sentences that name the question's words. A sentence that opens by pointing back ("After the
change, ...") comes with the one it finishes, and the help centre's term for the customer's words (the glossary's:
"unused" for "I wore them") is quoted where a passage states it. A name the customer gives that the quoted help
centre never mentions, and the glossary does not know, is said to be unknown, before the quote. A sentence that
states the help centre's term for the customer's words answers the question, however unlike theirs its wording.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from agent.settings import AppSettings, OfflineSettings
from knowledge.embedder import Embedder
from knowledge.glossary import Glossary
from knowledge.text import in_context, split_sentences
from knowledge.types import Passage
from knowledge.uploads import file_key, names_file

# Sentences about the article rather than the question: "See Refunds.", "This page explains..."
_NOT_AN_ANSWER = re.compile(r"^((please )?(see|read)\b|this (page|article|guide|section)\b)", re.I)
# Words that restrict a rule: who, where, when, exceptions.
_CONDITION = re.compile(
    r"\b(only|unless|except|exception|within|cannot|can't|not|no longer|must|as long as|until|"
    r"instead|outside|excluding)\b",
    re.I,
)
# A question whether something is allowed or required ("can I", "do I have to", "will you") is decided by a
# rule or its exception: a sentence that says what is or is not possible, not one that describes how.
# A terse question with no wh-word asks the same ("overnight shipping to Canada?": is there any?).
_YES_NO = re.compile(
    r"\b(can|could|do|does|did|will|would|is|are|am|may|should)\s+(i|you|we|it|they|there|that|this|my)\b"
    r"|^(?![\s\S]*\b(?:what|what's|whats|when|where|how|which|who|why)\b)[^?]*\?\s*$", re.I
)
_CATCH_ALL = re.compile(
    r"\b(other|different)\b.*\b(countr|retailer|service|method|store|shop|carrier|compan|brand)", re.I
)
# A question about an amount or a time ("how long", "return window", "what does it cost") is decided by a figure.
_QUANTITY = re.compile(
    r"\b(how (long|much|many|soon|late|early|fast)|window|deadline|limit|cost|price|fee|charge)\b", re.I
)
# A sentence that opens by pointing back ("After the change, ...", "This time is needed ...", "In either case")
# finishes the one before it: quoting either without the other drops the rule's consequence or its subject.
_CONTINUES = re.compile(
    r"^(this|that|these|those|such|otherwise|then|however|(after|if|in) (this|that|these|those|so|not|either|both)"
    r"|after the change)\b", re.I
)
_WORD = re.compile(r"[a-z0-9$]+(?:['’][a-z]+)?")
_INSIDE = r"(?<![.!?]\s)(?<!^)\b"  # not a sentence's first word, which is capitalised anyway
_CAPITALISED = r"[A-Z][a-z]{2,}"
_NAME = re.compile(_INSIDE + _CAPITALISED + r"\b")  # a capitalised word inside a sentence
_STEM_CHARS = 5  # "returned", "returns", "return" share a stem
_DIGIT = re.compile(r"\d")
_STOP = frozenset(
    "a an and are as at be been but by can could did do does for from get got had has have how i i'm if in is it "
    "its just me my of on or our so that the their them then there they this to too u up was we were what when "
    "where which who why will with would you your yours im ive id pls please hi hello thanks still now any some "
    "want need know tell about also much many can't dont don't cant".split()
)
# Capitalised words in a row are one name: "Canada Post" is a carrier, not Canada and an unknown "Post".
_NAME_PHRASE = re.compile(_INSIDE + _CAPITALISED + r"(?:\s+" + _CAPITALISED + r")*\b")
_FILE_NAME = re.compile(r"\b[\w][\w-]*\.(?:pdf|docx?|txt|md|html?|csv|eml|xlsx?|pptx?|png|jpe?g)\b", re.I)
_LAST_NUMBER = re.compile(r"\d+(?=\D*$)")
_NOT_NAMES = frozenset("I Hi Hello Thanks Please Can Could Do Does Is Are My The What When Where Why How Will".split())
# Days and months are dates the customer gives ("delivered on Monday"), never unknown to the help centre; one it
# names ("closed on Sundays") is still quoted.
_DATES = frozenset(
    "Monday Tuesday Wednesday Thursday Friday Saturday Sunday January February March April May June July "
    "August September October November December".split()
)


@dataclass(frozen=True)
class _Sentence:
    ref: int  # the passage's citation number
    position: int  # the sentence's place in its passage
    text: str
    heading: str = ""  # its section's heading, which often names what the sentence leaves implicit


def _named_files(question: str, read: list[str]) -> list[str]:
    """Files the question names that are not among `read`: written out ("note_25.txt"), or numbered like a
    read one ("note 25" beside note_0.txt, named as note_25.txt)."""
    named = [n for n in _FILE_NAME.findall(question) if all(file_key(n) != file_key(r) for r in read)]
    asked = file_key(question)
    for name in read:
        number = _LAST_NUMBER.search(file_key(name))
        if number is None or not (prefix := file_key(name)[: number.start()].strip()):
            continue
        for said in re.findall(rf"(?<![a-z0-9]){re.escape(prefix)} ?(?:#|no |number )?(\d+)(?![a-z0-9])", asked):
            stem, dot, extension = name.rpartition(".") if "." in name else (name, "", "")
            guess = _LAST_NUMBER.sub(said, stem) + dot + extension
            if all(file_key(guess) != file_key(r) for r in read):
                named.append(guess)
    return list(dict.fromkeys(named))


def _names(question: str) -> list[str]:
    """The names the customer gives, each capitalised run of words one name, without the words that only open a
    question or name a date ("Can", "Monday")."""
    found = []
    for phrase in _NAME_PHRASE.findall(question):
        words = [w for w in phrase.split() if w not in _NOT_NAMES | _DATES]
        if words:
            found.append(" ".join(words))
    return found


def _stem(word: str) -> str:
    """A crude stem ("items" and "item", "returned" and "returns"): needs no language model."""
    if len(word) > 3 and word.endswith("s") and not word.endswith("ss"):
        word = word[:-1]
    return word[:_STEM_CHARS]


def _terms(text: str) -> set[str]:
    """Content-word stems: what the question and a sentence have in common beyond meaning."""
    words = _WORD.findall(text.lower().replace("-", " "))
    return {_stem(w) for w in words if w not in _STOP and len(w) > 1}


class ExtractiveAnswerer:
    def __init__(self, embedder: Embedder, settings: OfflineSettings, app: AppSettings,
                 glossary: Glossary | None = None) -> None:
        self.embedder = embedder
        self.settings = settings
        self.app = app
        self.glossary = glossary or Glossary()  # "venmo" is asked about as "other payment services"

    def human_contact(self) -> str:
        return f"email {self.app.support_email} ({self.app.support_hours})"

    def dont_know(self) -> str:
        return (
            "I'm sorry, I don't know the answer to that, and I'd rather not guess. "
            f"A member of our support team can help you: {self.human_contact()}."
        )

    def unread_upload(self, question: str, passages: Sequence[Passage]) -> str | None:
        """When the question names an attached file that was not read, say so: never quote another file.

        The passages carry the names of the files that were read; a file the customer names that is not
        one of them ("note 25" beside note_0.txt ... note_2.txt, past the per-message limit) was not read.
        """
        read = sorted({p.source for p in passages if p.origin == "upload"})
        if not read or any(names_file(question, name) for name in read):
            return None
        unread = _named_files(question, read)
        if not unread:
            return None
        files = ", ".join(f"**{name}**" for name in unread)
        return (f"I haven't read {files}, so I can't tell you what it says. If you attached it, it was not read "
                f"(a message can bring only a few files); please attach it again on its own. I can answer from "
                f"the files I did read, such as {', '.join(read)}.")

    def answer(self, question: str, passages: Sequence[Passage]) -> str | None:
        """The cited answer to `question` from `passages`, or None when no sentence answers it."""
        # A question that names an attached file is answered from that file alone, not from its look-alikes.
        named = {p.source for p in passages if p.origin == "upload" and names_file(question, p.source)}
        candidates = [
            _Sentence(ref, position, sentence, passage.section)
            for ref, passage in enumerate(passages, 1)
            if not named or passage.source in named
            for position, sentence in enumerate(split_sentences(passage.text))
            if not _NOT_AN_ANSWER.match(sentence) and not sentence.endswith(":")
        ]
        if not candidates:
            return None
        names = question  # the customer's own words name places and brands; the glossary's terms are not names
        question = self.glossary.expand(question)
        query = self.embedder.embed([question])[0]
        # The embedder keeps recent texts: the same passages' sentences come back turn after turn.
        vectors = self.embedder.embed([c.text for c in candidates])
        meaning = vectors @ query
        terms = self.glossary.terms(names)
        # A related article, but no sentence that answers the question; unless one states the help centre's term
        # for the customer's words ("other payment services" for Venmo): that is the rule that decides it.
        if float(np.max(meaning)) < self.settings.min_sentence_score and not any(
                self.glossary.states(c.text, term) for term in terms for c in candidates):
            return None
        # A sentence is also read with its article and section: the closer reading ranks it.
        read_in_context = self.embedder.embed([in_context(passages[c.ref - 1].title, c.heading, c.text)
                                               for c in candidates])
        scores = np.maximum(meaning, read_in_context @ query)
        scores = scores + self.settings.specifics_weight * self._specifics(question, candidates)
        # The kind of question is the customer's own: the glossary's added terms come after their "?".
        scores = scores + self.settings.answer_kind_weight * self._answer_kind(names, candidates)
        chosen = self._choose(scores, vectors)
        best = passages[candidates[chosen[0]].ref - 1]
        extra = self.settings.condition_sentences
        covered = self._covering_names(names, chosen, candidates, scores)
        covered += self._covering_terms(terms, covered, candidates, scores)
        covered = covered[: len(chosen) + extra]
        budget = extra - (len(covered) - len(chosen))  # named cases count as extras
        chosen = self._with_conditions(covered, candidates, scores, _terms(question), budget)
        chosen += self._beside(chosen[0], chosen, candidates, self.settings.neighbour_sentences, _terms(question))
        chosen += self._first_passage(chosen, candidates, scores, self.settings.first_passage_sentences,
                                      _terms(question))
        chosen += self._continued(chosen, candidates)
        chosen.sort(key=lambda i: (candidates[i].ref, candidates[i].position))  # reading order
        quote = self._cite(candidates, chosen)
        return self._framed(names, quote, [candidates[i].text for i in chosen], best, float(np.max(meaning)))

    def _framed(self, question: str, quote: str, quoted: list[str], best: Passage, similarity: float) -> str:
        """The quote, or, when it may not cover the question, "I don't know ...; here is what the help centre
        says about <topic>": a customer should not take a neighbouring rule for the answer."""
        topic = best.section or best.title
        about = f' in "{topic}"' if topic else ""
        if unknown := self._unknown_names(question, quoted):
            return (f"I don't know about {unknown} specifically: our help centre doesn't mention it. "
                    f"Here is what it says{about}: {quote}")
        if similarity < self.settings.confident_score:
            return f"I don't know that for sure. Here is what our help centre says{about}: {quote}"
        return quote

    def _specifics(self, question: str, candidates: list[_Sentence]) -> np.ndarray:
        """Share of the question's content words (weighted by rarity among the candidates) each sentence names."""
        asked = _terms(question)
        # A sentence names what its heading names: "You can return most items within 30 days" is the
        # return *window* ("Return Window and Eligibility").
        sentence_terms = [_terms(c.text) | _terms(c.heading) for c in candidates]
        counts = {t: sum(t in terms for terms in sentence_terms) for t in asked}
        # Rare words are the question's specifics. One no candidate has ("visa" where the text says "credit
        # card") weighs as the rarest: it lowers every sentence's share alike, so a common word matched by
        # chance ("shows") cannot outweigh meaning.
        weights = {t: math.log(1 + len(candidates) / max(n, 1)) for t, n in counts.items()}
        total = sum(weights.values())
        if not total:
            return np.zeros(len(candidates))
        return np.array([sum(w for t, w in weights.items() if t in terms) / total for terms in sentence_terms])

    @staticmethod
    def _answer_kind(question: str, candidates: list[_Sentence]) -> np.ndarray:
        """1 for a sentence of the kind the question asks for: a rule for "can I...?", a figure for "how long...?"."""
        kinds = [pattern for asks, pattern in ((_YES_NO, _CONDITION), (_QUANTITY, _DIGIT)) if asks.search(question)]
        return np.array([any(p.search(c.text) for p in kinds) for c in candidates], dtype=float)

    def _choose(self, scores: np.ndarray, vectors: np.ndarray) -> list[int]:
        floor = float(np.max(scores)) - self.settings.sentence_margin
        chosen: list[int] = []
        for i in sorted(range(len(scores)), key=lambda i: -scores[i]):
            if len(chosen) == self.settings.max_sentences or scores[i] < floor:
                break
            # Several articles often state the same fact; quote it once.
            if all(vectors[i] @ vectors[j] < self.settings.duplicate_similarity for j in chosen):
                chosen.append(i)
        return chosen

    @staticmethod
    def _with_conditions(chosen: list[int], candidates: list[_Sentence], scores: np.ndarray, asked: set[str],
                         budget: int) -> list[int]:
        """Add, for each quoted sentence, the sentence of its passage that conditions it.

        A rule and its limits are written together ("You can exchange an item for a different variant...
        You cannot exchange an item for a different product."), and a section's first sentence states the
        rule the rest qualifies; a quote without them answers a different question. Of the passage's
        sentences that restrict ("only", "unless", "within"...) or open it, and name something the
        question asks about, the best-scoring one is added.
        """
        added: list[int] = []
        for i in chosen:
            if len(added) >= budget:
                break
            ref = candidates[i].ref
            # The opening rule counts when it holds the figure the quote lacks ("...a 1-year limited warranty").
            opens = not _DIGIT.search(candidates[i].text)
            conditions = [
                j for j, c in enumerate(candidates)
                if c.ref == ref and j not in chosen and j not in added and _terms(c.text) & asked
                and (_CONDITION.search(c.text) or (opens and c.position == 0 and _DIGIT.search(c.text)))
            ]
            if conditions:
                added.append(max(conditions, key=lambda j: scores[j]))
        return chosen + added

    @staticmethod
    def _beside(best: int, chosen: list[int], candidates: list[_Sentence], reach: int, asked: set[str]) -> list[int]:
        """The sentences just before and after the best one in its passage, when they name something the question
        asks about: the one before often names the case a rule is about, the one after its exception."""
        around = {(candidates[best].ref, candidates[best].position + step)
                  for step in range(-reach, reach + 1) if step}
        return [j for j, c in enumerate(candidates)
                if (c.ref, c.position) in around and j not in chosen and _terms(c.text) & asked]

    @staticmethod
    def _first_passage(chosen: list[int], candidates: list[_Sentence], scores: np.ndarray, limit: int,
                       asked: set[str]) -> list[int]:
        """Up to `limit` more sentences of the first passage (retrieval's best match for the whole question) that
        name something the question asks about, the best-scoring first. The section that matches a question best
        holds its rule and the rule's conditions ("Declined Payments": what to check, then what it means if the
        details are right), though the single sentence closest to the question may be another passage's; in a
        long section, the sentences that come first are not always the ones that answer."""
        first = [j for j, c in enumerate(candidates) if c.ref == 1 and j not in chosen and _terms(c.text) & asked]
        return sorted(first, key=lambda j: -scores[j])[:limit]

    @staticmethod
    def _continued(chosen: list[int], candidates: list[_Sentence]) -> list[int]:
        """The sentence that finishes a quoted one (it opens by pointing back to it), and the one a quoted
        continuation points back to."""
        place = {(c.ref, c.position): j for j, c in enumerate(candidates)}
        added: list[int] = []
        for i in chosen:
            c = candidates[i]
            after = place.get((c.ref, c.position + 1))
            if after is not None and _CONTINUES.match(candidates[after].text):
                added.append(after)
            before = place.get((c.ref, c.position - 1))
            if before is not None and _CONTINUES.match(c.text):
                added.append(before)
        return [j for j in dict.fromkeys(added) if j not in chosen]

    @staticmethod
    def _covering_terms(terms: list[str], chosen: list[int], candidates: list[_Sentence],
                        scores: np.ndarray) -> list[int]:
        """The help centre's term for what the customer said ("unused" for "I wore them"), when a passage
        states it but no quoted sentence does: quote the best sentence that names it."""
        added: list[int] = []
        for term in terms:
            naming = [j for j, c in enumerate(candidates) if Glossary.states(c.text, term)]
            if naming and not set(naming) & set(chosen + added):
                added.append(max(naming, key=lambda j: scores[j]))
        return added

    @staticmethod
    def _covering_names(question: str, chosen: list[int], candidates: list[_Sentence],
                        scores: np.ndarray) -> list[int]:
        """A name the question gives ("Canada") that a passage mentions but no quoted sentence does: quote
        the best sentence that names it, so the answer speaks to the customer's case."""
        added = list(chosen)
        for name in dict.fromkeys(_NAME.findall(question)):
            if name in _NOT_NAMES or any(name.lower() in candidates[i].text.lower() for i in added):
                continue
            naming = [j for j, c in enumerate(candidates) if name.lower() in c.text.lower()]
            # A name the help centre never mentions ("Mexico", "Venmo") is decided by its catch-all rule:
            # "We are not able to ship to other countries", "...or other payment services".
            if not naming and name in _DATES:
                continue  # a date the help centre never names is no country or service its catch-all rule covers
            naming = naming or [j for j, c in enumerate(candidates) if _CATCH_ALL.search(c.text) and j not in added]
            if naming:
                added.append(max(naming, key=lambda j: scores[j]))
        return added

    @staticmethod
    def _cite(candidates: list[_Sentence], chosen: list[int]) -> str:
        parts: list[str] = []
        for n, i in enumerate(chosen):
            last_of_ref = n + 1 == len(chosen) or candidates[chosen[n + 1]].ref != candidates[i].ref
            parts.append(f"{candidates[i].text} [{candidates[i].ref}]" if last_of_ref else candidates[i].text)
        return " ".join(parts)

    def _unknown_names(self, question: str, quoted: list[str]) -> str | None:
        """A name the customer gives ("Mexico") that none of the quoted sentences mentions and the glossary does not
        know: one it knows is a case the help centre covers ("Amex" is American Express, "Amazon" another retailer)."""
        said = " ".join(quoted).lower()
        names = [n for n in _names(question) if n.lower() not in said and not self.glossary.terms(n)]
        return ", ".join(dict.fromkeys(names)) or None
