"""A US postal address written in a message, as τ-bench's address fields."""

from __future__ import annotations

import re

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
