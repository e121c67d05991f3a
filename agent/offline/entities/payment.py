"""Which of the customer's payment methods they name, or their original one."""

from __future__ import annotations

import re

from agent.offline.entities.text import _correct

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
