"""Details pulled out of a customer's message: order ids, identity, reasons, payment, items, answers.

Pure functions over text (and, where a reference needs resolving, the τ-bench records it refers to).
Each one prefers saying nothing to guessing: a wrong order id or card costs more than asking again.
Keywords tolerate a typo ("acidentally", "keybaord") by edit distance, never short words.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from rapidfuzz import fuzz
from rapidfuzz.distance import OSA

from agent.offline.intents import normalize

# ---------------------------------------------------------------- identifiers

ORDER_ID_DIGITS = 7
_ORDER_ID = re.compile(rf"(?<![\w#])#?\s?[Ww](\d{{{ORDER_ID_DIGITS}}})(?!\d)")
# "order 1234567", "order number: 1234567", "order #1234567": seven digits right after the word order.
_ORDER_NUMBER = re.compile(
    rf"\border(?:\s+(?:number|no\.?|num|id))?\s*[:#]?\s*#?(\d{{{ORDER_ID_DIGITS}}})(?!\d)", re.I
)
_EMAIL = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}")
_ZIP = re.compile(r"(?<![\w$#.,-])(\d{5})(?:-\d{4})?(?![\w.,-]*\d)(?!\s*(?:dollars|usd|bucks|points|miles)\b)", re.I)
_STREET_SUFFIX = (
    r"(?:street|st|avenue|ave|road|rd|drive|dr|lane|ln|boulevard|blvd|way|court|ct|place|pl|terrace|"
    r"parkway|pkwy|circle|cir|highway|hwy)"
)
# A five-digit number opening a street address is a house number, not a zip.
_HOUSE_NUMBER = re.compile(rf"\s+(?:[A-Za-z]+\s+){{1,3}}{_STREET_SUFFIX}\b", re.I)


def order_ids(text: str) -> list[str]:
    """Order ids as the store writes them (`#W1234567`), in the order mentioned, each once."""
    found = [(m.start(), m.group(1)) for m in _ORDER_ID.finditer(text)]
    found += [(m.start(), m.group(1)) for m in _ORDER_NUMBER.finditer(text)]
    return list(dict.fromkeys(f"#W{digits}" for _, digits in sorted(found)))


def emails(text: str) -> list[str]:
    return list(dict.fromkeys(m.group(0).lower().rstrip(".") for m in _EMAIL.finditer(text)))


def without_identifiers(text: str) -> str:
    """The text with order ids and emails blanked out."""
    return _ORDER_NUMBER.sub(" order ", _EMAIL.sub(" ", _ORDER_ID.sub(" ", text)))


def zip_codes(text: str) -> list[str]:
    """US zip codes (ZIP+4 shortened to five digits), never a piece of an order id, email or phone."""
    plain = _EMAIL.sub(" ", text)
    return list(dict.fromkeys(
        m.group(1) for m in _ZIP.finditer(plain) if not _HOUSE_NUMBER.match(plain, m.end())
    ))


# ---------------------------------------------------------------- names

_NAME_WORD = r"[A-Za-z][A-Za-z'-]+"
_STRONG_NAME_CUE = re.compile(
    rf"\b(?:my\s+name\s+is|my\s+name's|name\s*[:=-]|name\s+is)\s*({_NAME_WORD})\s+({_NAME_WORD})", re.I
)
_WEAK_NAME_CUE = re.compile(rf"\b(?:i'?m|i\s+am|this\s+is|it'?s)\s+({_NAME_WORD})\s+({_NAME_WORD})", re.I)
_NAME_THEN_ZIP = re.compile(
    rf"(?:^|[.,;:!?]\s*|\band\s+)({_NAME_WORD})\s+({_NAME_WORD})\s*,?\s*(?:zip\s*(?:code)?\s*:?\s*)?\d{{5}}\b", re.I
)
# Words that follow "I'm" or precede a zip without being a name.
_NOT_NAMES = frozenset(
    "a an the and or but so not just still very really also here there back from in at on to of for "
    "my your our their his her its this that zip code is am are was were be been sorry afraid trying "
    "looking hoping wondering writing calling having getting going waiting unable able sure happy glad "
    "fine good ok okay new moving done ready interested asking about over under with without "
    "customer member buyer order number email address living located based".split()
)


def person_name(text: str) -> tuple[str, str] | None:
    """(first, last) from "I'm Dana Whitfield", "my name is ...", "Dana Whitfield 97205", "name: ..."."""
    for pattern, need_capitals in ((_STRONG_NAME_CUE, False), (_NAME_THEN_ZIP, False), (_WEAK_NAME_CUE, True)):
        for match in pattern.finditer(text):
            first, last = match.group(1), match.group(2)
            if first.lower() in _NOT_NAMES or last.lower() in _NOT_NAMES:
                continue
            # After a weak cue, lower-case words are usually not a name ("I'm returning both").
            if need_capitals and not (first[0].isupper() and last[0].isupper()) and not _looks_like_name(first, last):
                continue
            return _name_case(first), _name_case(last)
    return None


def _looks_like_name(first: str, last: str) -> bool:
    return not any(word.lower().endswith(("ing", "ed", "ly")) for word in (first, last))


def _name_case(word: str) -> str:
    return word if word[:1].isupper() and not word.isupper() else word.capitalize()


# ---------------------------------------------------------------- typo-tolerant keywords

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


# ---------------------------------------------------------------- cancellation reason

NO_LONGER_NEEDED = "no longer needed"
ORDERED_BY_MISTAKE = "ordered by mistake"
_MISTAKE = re.compile(
    r"\b(by mistake|mistake|mistaken(ly)?|by accident|accident(al)?(ly)?|accidently|wrong (thing|item|product|"
    r"size|colou?r|one|model|order)|ordered the wrong|duplicate|ordered (it )?twice|double order(ed)?|"
    r"didn'?t mean to|did not mean to|ordered two by|misclick(ed)?|meant to order)\b"
)
_NOT_NEEDED = re.compile(
    r"\b(no longer need(ed)?|don'?t need|do not need|doesn'?t need|not needed|no need|needn'?t|"
    r"changed my mind|change of mind|don'?t want|do not want|no longer want|not interested|"
    r"found (it|one|a (better|cheaper) (one|deal|price))|cheaper (elsewhere|somewhere)|better deal|"
    r"anymore|any more|(takes|taking) too long|won'?t need)\b"
)
_REASON_VOCABULARY = {
    "mistake", "mistaken", "mistakenly", "accident", "accidental", "accidentally", "duplicate", "changed",
    "anymore", "longer", "needed", "interested", "cheaper", "better", "wrong", "ordered", "misclicked", "twice",
}


def cancel_reason(text: str) -> str | None:
    """One of τ-bench's two cancellation reasons, from the customer's own words."""
    plain = _correct(_plain(text), _REASON_VOCABULARY)
    if _MISTAKE.search(plain):
        return ORDERED_BY_MISTAKE
    if _NOT_NEEDED.search(plain):
        return NO_LONGER_NEEDED
    return None


# ---------------------------------------------------------------- yes / no / never mind / correction

_MAYBE = re.compile(r"\b(not sure|unsure|maybe|perhaps|i don'?t know|dunno|idk|not certain)\b")
_NO = re.compile(
    r"^(no|nope|nah|na|negative|not really|no way|don'?t|do not|not now|wrong|incorrect|n)\b"
    r"|\b(that'?s not (right|correct|it)|not (correct|right)|please don'?t|don'?t do (it|that))\b"
)
_YES = re.compile(
    r"^(yes|yeah|yea|yep|yup|ya|y|sure|ok|okay|k|correct|right|confirm(ed)?|affirmative|absolutely|"
    r"definitely|of course|certainly|please do|go ahead|do it|sounds good|that'?s (right|correct|it|fine)|"
    r"yes please|alright|all right|fine|exactly|proceed|perfect)\b"
    r"|\b(go ahead|please do|do it|confirm(ed)?|that'?s (right|correct)|sounds good)\b"
)
_NO_PROBLEM = re.compile(r"^no (problem|worries)\b")
_REPEATED_LETTER = re.compile(r"([a-z])\1{2,}")


def _plain(text: str) -> str:
    """Lower case, straight apostrophes, no drawn-out letters ("yesss", "nooo")."""
    lowered = text.lower().replace("\u2019", "'").strip()
    return re.sub(r"\byess\b", "yes", _REPEATED_LETTER.sub(r"\1", lowered))


_BARE = {
    "no": {"no", "nope", "nah", "no thanks", "no thank you", "no thx", "not really", "no that's all", "no that's it",
           "that's all", "that's it", "that is all", "nothing", "nothing else", "all good", "i'm good", "im good"},
    "yes": {"yes", "yeah", "yep", "yup", "ya", "sure", "yes please", "please", "please do", "sure please", "go ahead",
            "yes i would", "i would"},
    "ok": {"ok", "okay", "k", "kk", "alright", "all right", "fine", "got it", "ok cool", "okay cool", "understood",
           "i see", "ah ok", "oh ok", "ok then", "okay then"},
}


def bare_answer(text: str) -> str | None:
    """"yes", "no" or "ok" for a message that is nothing but that answer ("nope.", "Yes please!")."""
    plain = " ".join(_plain(text).replace(",", " ").strip(" .!").split())
    return next((kind for kind, words in _BARE.items() if plain in words), None)


def yes_no(text: str) -> bool | None:
    """True for a yes, False for a no, None when the message is neither or hedges."""
    plain = _plain(text)
    if not plain or _MAYBE.search(plain):
        return None
    if _NO_PROBLEM.match(plain):
        return True
    if _NO.search(plain):
        return False
    if _YES.search(plain):
        return True
    return None


_NEVER_MIND = re.compile(
    r"^(?:(?:please|ok|okay|oh|no|just|actually|hmm),? )?"
    r"(never ?mind|nvm|forget (it|about it|that)|cancel that|stop|scratch that|abort|"
    r"leave it|don'?t bother|no stop|quit|exit)\b"
)
_NEVER_MIND_ANYWHERE = re.compile(r"\b(never ?mind|nvm|forget it|forget about it|scratch that)\b")
_SHORT_MESSAGE_WORDS = 6  # longer messages carry a new request, not just a retreat


def never_mind(text: str) -> bool:
    """The customer abandons what is under way ("never mind", "forget it", "cancel that", "stop")."""
    plain = _plain(text).strip(" .!")
    if _NEVER_MIND_ANYWHERE.search(plain):
        return True
    if not _NEVER_MIND.match(plain):
        return False
    # "cancel that order" is a request; "cancel that" and "stop, please" are not.
    rest = _NEVER_MIND.sub("", plain, count=1)
    return len(plain.split()) <= _SHORT_MESSAGE_WORDS and not re.search(r"\b(order|item|purchase)\b", rest)


_CORRECTION = re.compile(
    r"\b(actually|i meant|i mean|meant to say|not that one|the other one|other order|wrong order|"
    r"that'?s wrong|that'?s not (it|right|the one)|not the right (one|order)|oops|my bad|correction)\b"
)


def correction(text: str) -> bool:
    """The customer corrects what they said before ("actually", "no, the other one", "I meant ...")."""
    return bool(_CORRECTION.search(_plain(text)))


# ---------------------------------------------------------------- what to modify in a pending order

_MODIFY_KINDS = {
    "address": re.compile(
        r"\b(address|addres|adress|ship(ping)? to|deliver(y)? to|send (it )?to|zip( code)?|postcode|street|"
        r"apartment|apt|suite|city|moved|moving)\b"
    ),
    "payment": re.compile(
        r"\b(payment|pay (with|by|using)|paid|card|paypal|gift ?card|visa|mastercard|amex|billing|charge)\b"
    ),
    "items": re.compile(
        r"\b(items?|products?|size|colou?r|swap|switch|version|model|variant|instead of the|different one|"
        r"larger|smaller|bigger)\b"
    ),
}
_MODIFY_VOCABULARY = {"address", "payment", "paypal", "mastercard", "billing", "apartment", "delivery", "shipping"}


def modify_kind(text: str) -> str | None:
    """What the customer wants changed on a pending order: "address", "items" or "payment"."""
    plain = _correct(text, _MODIFY_VOCABULARY)
    first = [(m.start(), kind) for kind, pattern in _MODIFY_KINDS.items() if (m := pattern.search(plain))]
    return min(first)[1] if first else None


# ---------------------------------------------------------------- payment method

ORIGINAL_PAYMENT = "original"
_ORIGINAL = re.compile(
    r"\b(original (payment|method|card|form)|same (card|payment|method|way|account)|"
    r"(card|method|account) i (paid|used|bought it) with|way i paid|how i paid|where it came from|"
    r"back to (my|the) (card|account))\b"
)
_LAST_FOUR = re.compile(r"(?<!\d)(\d{4})(?!\d)")
_BRANDS = {"visa": "visa", "mastercard": "mastercard", "master card": "mastercard", "amex": "amex",
           "american express": "amex", "discover": "discover"}
_PAYMENT_VOCABULARY = {"paypal", "mastercard", "original", "payment", "discover"}


def payment_reference(text: str, methods: list[dict]) -> str | None:
    """The id of the payment method the customer names among theirs, ORIGINAL_PAYMENT, or None."""
    plain = _correct(text, _PAYMENT_VOCABULARY)
    if _ORIGINAL.search(plain):
        return ORIGINAL_PAYMENT
    by_source: dict[str, list[dict]] = {}
    for method in methods:
        by_source.setdefault(method.get("source", ""), []).append(method)
    cards = by_source.get("credit_card", [])
    for digits in _LAST_FOUR.findall(text):
        matching = [c for c in cards if str(c.get("last_four")) == digits]
        if len(matching) == 1:
            return matching[0]["id"]
    if re.search(r"\bgift[ -]?cards?\b|\bstore credit\b", plain):
        return _only(by_source.get("gift_card", []))
    if re.search(r"\bpay ?pal\b", plain):
        return _only(by_source.get("paypal", []))
    for word, brand in _BRANDS.items():
        if re.search(rf"\b{word}\b", plain):
            return _only([c for c in cards if str(c.get("brand", "")).lower() == brand])
    if re.search(r"\b(credit|debit)? ?cards?\b", plain):
        return _only(cards)
    return None


def _only(candidates: list[dict]) -> str | None:
    """The id when exactly one method fits: two gift cards and "my gift card" is a question back."""
    return candidates[0]["id"] if len(candidates) == 1 else None


# ---------------------------------------------------------------- items and choices

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
    best = max(scores)
    return [i for i, score in enumerate(scores) if score == best] if best else []


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
    name, options = _item_words(item)
    score = sum(1 for w in words if any(_close(w, n) for n in name))
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


# ---------------------------------------------------------------- postal address

US_STATES = frozenset(
    "AL AK AZ AR CA CO CT DE DC FL GA HI ID IL IN IA KS KY LA ME MD MA MI MN MS MO MT NE NV NH NJ NM NY NC "
    "ND OH OK OR PA RI SC SD TN TX UT VT VA WA WV WI WY PR".split()
)
DEFAULT_COUNTRY = "USA"  # the shop ships to US addresses; the pattern accepts only US spellings
_UNIT = r"(?:apt|apartment|suite|ste|unit|floor|fl|room|rm|bldg|building|#)\.?\s*#?\s*[\w-]+"
_ADDRESS = re.compile(
    rf"(?<![\w#])(?P<address1>\d+[A-Za-z]?\s+[A-Za-z0-9 .'-]+?)"
    rf"(?:\s*,?\s*(?P<address2>{_UNIT}))?\s*,\s*"
    r"(?P<city>[A-Za-z][A-Za-z .'-]*?)\s*,?\s+(?P<state>[A-Za-z]{2})\.?,?\s+(?P<zip>\d{5})(?:-\d{4})?"
    r"(?:\s*,?\s*(?P<country>united states(?: of america)?|u\.?s\.?a?\.?|america)(?![A-Za-z]))?",
    re.I,
)


def address(text: str) -> dict | None:
    """A US address "221 Pine Street, Apt 3, Seattle, WA 98101, USA" as τ-bench fields, or None."""
    for line in re.split(r"[\n;]", text):
        for begin in [m.start() for m in re.finditer(r"(?<![\w#])\d", line)]:
            match = _ADDRESS.match(line, begin)
            if match and match.group("state").upper() in US_STATES:
                return _address_fields(match)
    return None


def _address_fields(match: re.Match[str]) -> dict:
    return {
        "address1": " ".join(match.group("address1").split()),
        "address2": " ".join((match.group("address2") or "").split()),
        "city": " ".join(match.group("city").split()),
        "state": match.group("state").upper(),
        "zip": match.group("zip"),
        "country": DEFAULT_COUNTRY,
    }
