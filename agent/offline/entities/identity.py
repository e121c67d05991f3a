"""Which order and which customer: order ids, emails, zip codes and a person's name."""

from __future__ import annotations

import re

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


def ids_as_words(text: str) -> str:
    """The text with each order id said as the word "order" and emails blanked: "track W1234567" asks about
    an order, which the id's word pieces never say."""
    spoken = _ORDER_ID.sub(" order ", _ORDER_NUMBER.sub(" order ", _EMAIL.sub(" ", text)))
    return _REPEATED_ORDER.sub("order", spoken)


_REPEATED_ORDER = re.compile(r"\border(?:\s+(?:number|no\.?|num|id))?\s*[:#]?\s+order\b", re.I)


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
