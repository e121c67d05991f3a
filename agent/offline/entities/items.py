"""Items of an order the customer points at, and which offered option they pick."""

from __future__ import annotations

import re

from rapidfuzz import fuzz

from agent.offline.entities.text import _close, _plain, _tokens
from agent.offline.intents import normalize

_ORDINALS = {
    "first": 0, "1st": 0, "one": 0, "second": 1, "2nd": 1, "two": 1, "third": 2, "3rd": 2, "three": 2,
    "fourth": 3, "4th": 3, "four": 3, "fifth": 4, "5th": 4, "five": 4,
}
_ORDINAL_ONLY = {k: v for k, v in _ORDINALS.items() if k not in ("one", "two", "three", "four", "five")}
_ALL = re.compile(
    r"\b(both|all (of them|of it|items|the items|three|two|four)|everything|every item|whole order|entire order)\b"
    r"|(?<!that's )(?<!thats )\ball\s*[.!]?$"
)
_LAST = re.compile(r"\bthe (last|final)\b|\b(last|final) (one|item|option)\b|^(last|final)$")
_SIZE_WORDS = {"small": "s", "medium": "m", "large": "l", "extra large": "xl", "x-large": "xl"}
_IGNORED = frozenset({"the", "one", "ones", "a", "an", "my", "and", "of", "it", "them", "pair", "set", "with", "for"})
_PHRASE_BREAK = re.compile(r"\s*(?:,|;|\band\b|&|\bplus\b|\balso\b)\s*")


def item_references(text: str, items: list[dict]) -> list[str]:
    """item_ids the customer points at among an order's items: by name, option, ordinal or "both"."""
    plain = _plain(text)
    if _ALL.search(plain):
        return [item["item_id"] for item in items]
    chosen: list[int] = []
    for phrase in _PHRASE_BREAK.split(plain):
        for index in _phrase_items(phrase, items):
            if index not in chosen:
                chosen.append(index)
    return [items[i]["item_id"] for i in sorted(chosen)]


def _phrase_items(phrase: str, items: list[dict]) -> list[int]:
    ordinal = _ordinal(phrase, len(items))
    if ordinal is not None:
        return [ordinal]
    words = [w for w in _tokens(phrase) if w not in _IGNORED]
    if not words:
        return []
    scores = [_describes(words, phrase, item) for item in items]
    # An item the phrase names beats one it only matches by an option: "the headphones for white ones"
    # is the headphones (white is what they want instead), not also the white keyboard.
    named = [_names(words, item) for item in items]
    if max(named) > 0:
        scores = [score if by_name == max(named) else 0 for score, by_name in zip(scores, named, strict=True)]
    best = max(scores)
    return [i for i, score in enumerate(scores) if score == best] if best else []


def _names(words: list[str], item: dict) -> int:
    name, _ = _item_words(item)
    return sum(1 for w in words if any(_close(w, n) for n in name))


def _item_words(item: dict) -> tuple[set[str], set[str]]:
    """(name words, option words) of an order item, lower-cased, with the plural of the name."""
    name = {w for w in _tokens(item.get("name", "")) if w not in _IGNORED}
    name |= {w.replace("-", "") for w in name} | {part for w in name for part in w.split("-") if len(part) > 1}
    name |= {w + "s" for w in name} | {w + "es" for w in name} | {w[:-1] for w in name if w.endswith("s")}
    # Digits and single letters ("9", "M") mean something only after their option's name ("size 9").
    options = {w for value in item.get("options", {}).values() for w in _tokens(str(value))
               if not w.isdigit() and len(w) > 1}
    return name, options


def _describes(words: list[str], phrase: str, item: dict) -> int:
    """How many of the phrase's words describe the item; 0 when one contradicts its size."""
    _, options = _item_words(item)
    score = _names(words, item)
    score += sum(1 for w in words if w in options)
    for key, value in item.get("options", {}).items():
        value = str(value).lower()
        if re.search(rf"\b{re.escape(key.lower())}\s*:?\s*{re.escape(value)}\b", phrase):
            score += 1
        if key.lower() == "size":
            for spoken, code in _SIZE_WORDS.items():
                if re.search(rf"\b{spoken}\b", phrase):
                    score += 1 if value in (code, spoken) else 0
    return score


def _ordinal(phrase: str, count: int) -> int | None:
    if count and _LAST.search(phrase):
        return count - 1
    for word, index in _ORDINAL_ONLY.items():
        if re.search(rf"\b{word}\b", phrase) and index < count:
            return index
    return None


_CHOICE_NUMBER = re.compile(r"^\s*(?:(?:number|no\.?|option|#)\s*)?(\d{1,2})\s*[.)]?\s*$", re.I)
_CHOICE_FILLER = frozenset({"option", "please", "pick", "choose", "take", "want", "number", "i", "i'll", "id", "go"})
_FUZZY_CHOICE_CUTOFF = 80  # rapidfuzz similarity (0-100) a typed label needs to count as an option


def choice(text: str, options: list[str]) -> int | None:
    """Index of the offered option the customer picks: by label, number, ordinal, or a close label."""
    plain = normalize(text)
    if not plain or not options:
        return None
    labels = [normalize(option) for option in options]
    exact = [i for i, label in enumerate(labels) if label == plain]
    if len(exact) == 1:
        return exact[0]
    contained = [i for i, label in enumerate(labels) if label and re.search(rf"\b{re.escape(label)}\b", plain)]
    if len(contained) == 1:
        return contained[0]
    number = _CHOICE_NUMBER.match(text)
    if number and 1 <= int(number.group(1)) <= len(options):
        return int(number.group(1)) - 1
    spoken = [w for w in plain.split() if w not in ("the", "a", "an") and w not in _CHOICE_FILLER]
    if len(spoken) == 1 and spoken[0] in _ORDINALS and _ORDINALS[spoken[0]] < len(options):
        return _ORDINALS[spoken[0]]
    ordinal = _ordinal(plain, len(options))
    if ordinal is not None:
        return ordinal
    return _best_label(plain, labels)


def _best_label(plain: str, labels: list[str]) -> int | None:
    """The one label sharing most of the customer's words (typos allowed), else the closest spelling."""
    words = [w for w in plain.split() if w not in _IGNORED and w not in _CHOICE_FILLER]
    overlaps = [sum(1 for w in words if any(_close(w, part) for part in label.split())) for label in labels]
    if max(overlaps, default=0) and overlaps.count(max(overlaps)) == 1:
        return overlaps.index(max(overlaps))
    scores = [fuzz.ratio(plain, label) for label in labels]
    best = max(scores)
    if best >= _FUZZY_CHOICE_CUTOFF and scores.count(best) == 1:
        return scores.index(best)
    return None
