"""The intents the offline dialogue engine understands, and the examples that define them.

The names are an API: the dialogue manager keys its flows on them and the evaluation data labels
utterances with them. `out_of_scope` is an intent like the others, defined by hard negatives that
share words with the shop's requests ("cancel my gym membership", "track my flight").
"""

from __future__ import annotations

import json
import re
from pathlib import Path

ORDER_STATUS = "order_status"
CANCEL_ORDER = "cancel_order"
MODIFY_ORDER = "modify_order"
RETURN_ITEMS = "return_items"
EXCHANGE_ITEMS = "exchange_items"
REFUND_STATUS = "refund_status"
INVOICE = "invoice"
PRODUCT_INFO = "product_info"
UPDATE_ADDRESS = "update_address"
HUMAN = "human"
GREETING = "greeting"
THANKS = "thanks"
GOODBYE = "goodbye"
POLICY_QUESTION = "policy_question"
OUT_OF_SCOPE = "out_of_scope"
# Not an intent of the data: the message only supplies details (an order id, an email) and asks
# for nothing, so the dialogue manager fills the open slot or asks what to do with them.
INFORM = "inform"

INTENTS = (
    ORDER_STATUS, CANCEL_ORDER, MODIFY_ORDER, RETURN_ITEMS, EXCHANGE_ITEMS, REFUND_STATUS, INVOICE,
    PRODUCT_INFO, UPDATE_ADDRESS, HUMAN, GREETING, THANKS, GOODBYE, POLICY_QUESTION, OUT_OF_SCOPE,
)
# Intents that start a flow acting on the customer's records. product_info only reads the
# catalogue, but activating it on an out-of-scope message is just as wrong, so it counts here.
STORE_FLOWS = frozenset({
    ORDER_STATUS, CANCEL_ORDER, MODIFY_ORDER, RETURN_ITEMS, EXCHANGE_ITEMS, REFUND_STATUS, INVOICE,
    UPDATE_ADDRESS, PRODUCT_INFO,
})
# Pleasantries: a sentence carrying a request wins over them in a longer message.
SOCIAL = frozenset({GREETING, THANKS, GOODBYE})

EXAMPLES_PATH = Path(__file__).resolve().parent / "data" / "intents.json"
ELSEWHERE_PATH = EXAMPLES_PATH.with_name("elsewhere.txt")
BUSINESSES_PATH = EXAMPLES_PATH.with_name("businesses.txt")

_NOT_WORD = re.compile(r"[^\w\s#]+")


def normalize(text: str) -> str:
    """Lower case, punctuation dropped, single spaces: how two utterances are compared for equality."""
    return " ".join(_NOT_WORD.sub(" ", text.lower()).split())


def load_examples(path: Path = EXAMPLES_PATH) -> dict[str, list[str]]:
    """`{intent: [examples]}` from a JSON file; unknown intent names are an error, not ignored."""
    examples = json.loads(Path(path).read_text(encoding="utf-8"))
    unknown = set(examples) - set(INTENTS)
    if unknown:
        raise ValueError(f"{path}: unknown intents {sorted(unknown)}")
    return {intent: list(texts) for intent, texts in examples.items()}


def load_elsewhere(path: Path = ELSEWHERE_PATH) -> frozenset[str]:
    """Terms naming another business or domain (one per line, `#` comments); `BUSINESSES_PATH` holds kinds of
    business ("boutique") in the same form."""
    lines = (line.strip().lower() for line in path.read_text(encoding="utf-8").splitlines())
    return frozenset(line for line in lines if line and not line.startswith("#"))
