"""What the customer wants done: τ-bench's cancellation reason, and what to change in a pending order."""

from __future__ import annotations

import re

from agent.offline.entities.text import _correct, _plain

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
        r"larger|smaller|bigger|in (a |an )?\w+(-\w+)? (one )?instead)\b"
    ),
}
_MODIFY_VOCABULARY = {"address", "payment", "paypal", "mastercard", "billing", "apartment", "delivery", "shipping"}


def modify_kind(text: str) -> str | None:
    """What the customer wants changed on a pending order: "address", "items" or "payment"."""
    plain = _correct(text, _MODIFY_VOCABULARY)
    first = [(m.start(), kind) for kind, pattern in _MODIFY_KINDS.items() if (m := pattern.search(plain))]
    return min(first)[1] if first else None
