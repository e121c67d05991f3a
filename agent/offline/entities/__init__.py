"""Details pulled out of a customer's message: order ids, identity, reasons, payment, items, answers.

Pure functions over text (and, where a reference needs resolving, the τ-bench records it refers to).
Each one prefers saying nothing to guessing: a wrong order id or card costs more than asking again.

One module per family: identity (order ids, emails, zips, names), answers (yes/no, never mind,
corrections), reasons (why cancel, what to modify), payment, items (and choices among options) and
addresses; `text` holds the typo-tolerant word matching they share.
"""

from __future__ import annotations

from agent.offline.entities.addresses import DEFAULT_COUNTRY, US_STATES, address
from agent.offline.entities.answers import bare_answer, correction, never_mind, yes_no
from agent.offline.entities.identity import (
    ORDER_ID_DIGITS, emails, ids_as_words, order_ids, person_name, without_identifiers, zip_codes,
)  # fmt: skip
from agent.offline.entities.items import choice, item_references
from agent.offline.entities.payment import ORIGINAL_PAYMENT, payment_reference
from agent.offline.entities.reasons import NO_LONGER_NEEDED, ORDERED_BY_MISTAKE, cancel_reason, modify_kind

__all__ = [
    "DEFAULT_COUNTRY", "NO_LONGER_NEEDED", "ORDERED_BY_MISTAKE", "ORDER_ID_DIGITS", "ORIGINAL_PAYMENT", "US_STATES",
    "address", "bare_answer", "cancel_reason", "choice", "correction", "emails", "ids_as_words", "item_references",
    "modify_kind", "never_mind", "order_ids", "payment_reference", "person_name", "without_identifiers", "yes_no",
    "zip_codes",
]  # fmt: skip
