"""What the synthetic conversations say: how often each intent opens a chat, the tools each intent runs, and the
assistant's replies, as templates with slots so that no two conversations read the same.

Customer messages are the offline engine's own labelled examples (agent/offline/data/intents.json, about 900
of them); tool names are the registry's (tests/__snapshots__/test_tool_schemas.ambr).
"""

from __future__ import annotations

import random
import re

# How often a conversation opens with each intent (weights, not percentages).
OPENING_WEIGHTS = {
    "order_status": 22, "cancel_order": 9, "modify_order": 6, "return_items": 10, "exchange_items": 5,
    "refund_status": 8, "invoice": 4, "product_info": 9, "update_address": 3, "policy_question": 14,
    "out_of_scope": 4, "human": 4,
}  # fmt: skip
FOLLOW_UP_WEIGHTS = {"order_status": 3, "refund_status": 2, "product_info": 2, "policy_question": 4, "invoice": 1}
SOCIAL_OPENING, SOCIAL_CLOSING = "greeting", ("thanks", "goodbye")

# The read tools a turn of each intent runs (one is chosen, sometimes two in a row), and its write tool.
READ_TOOLS = {
    "order_status": ("get_order_details", "track_order", "list_my_orders"),
    "cancel_order": ("get_order_details", "list_my_orders"),
    "modify_order": ("get_order_details", "get_product_details"),
    "return_items": ("get_order_details", "list_my_orders"),
    "exchange_items": ("get_order_details", "get_product_details"),
    "refund_status": ("get_refund_status", "get_order_details"),
    "invoice": ("get_invoice",),
    "product_info": ("search_products", "get_product_details", "list_all_product_types"),
    "update_address": ("get_user_details",),
    "policy_question": ("search_knowledge",),
}
WRITE_TOOLS = {
    "cancel_order": "cancel_pending_order", "modify_order": "modify_pending_order_items",
    "return_items": "return_delivered_order_items", "exchange_items": "exchange_delivered_order_items",
    "update_address": "modify_user_address",
}  # fmt: skip
HAND_OVER_TOOL = "transfer_to_human_agents"

PRODUCTS = (
    "Aurora desk lamp", "Breeze tower fan", "Cedar cutting board", "Drift rain jacket", "Ember wool throw",
    "Fjord water bottle", "Glide wireless earbuds", "Harbor duffel bag", "Iris ceramic mug set", "Juniper linen sheets",
    "Kestrel trail backpack", "Lumen smart bulb", "Meadow cotton tee", "Nimbus noise-cancelling headphones",
    "Orbit portable speaker", "Pine camp stove", "Quill notebook", "Ridge hiking boots", "Summit tent",
    "Tidal blender", "Umber leather wallet", "Vale fleece hoodie", "Willow plant stand", "Zephyr electric kettle",
)  # fmt: skip
CARRIERS = ("UPS", "FedEx", "USPS", "DHL")
STATUSES = ("processed", "shipped", "out for delivery", "delivered", "pending")

REPLIES = {
    "order_status": (
        "Your order {order} is {status}. It left our warehouse on {date} with {carrier} and should arrive within "
        "{days} business days.",
        "I found order {order}: the {product} is {status}. Tracking number {tracking} ({carrier}).",
        "Order {order} was {status} on {date}. You can follow it with {carrier} using {tracking}.",
        "Good news: {order} is {status}. The {product} should reach you by {date}.",
    ),
    "cancel_order": (
        "Order {order} is still pending, so I can cancel it. The {amount} will go back to your original payment "
        "method.",
        "I can cancel {order} ({product}, {amount}) for you. Please confirm below.",
    ),
    "modify_order": (
        "Order {order} hasn't shipped yet, so the {product} can still be changed. The price difference is {amount}.",
        "I can swap the item in {order} for the {product}; you would be charged {amount} more.",
    ),
    "return_items": (
        "Order {order} was delivered on {date}, so the {product} can be returned within 30 days. The refund of "
        "{amount} goes back to your card.",
        "I can start a return for the {product} from {order}. You'll get a prepaid {carrier} label by email.",
    ),
    "exchange_items": (
        "I can exchange the {product} from {order} for another option at no extra cost.",
        "The {product} in {order} can be exchanged; the new one ships once we receive the original.",
    ),
    "refund_status": (
        "The refund of {amount} for {order} was issued on {date}. Card refunds take 5-10 business days to appear.",
        "Your return for {order} was received and {amount} was refunded to your gift card on {date}.",
        "The refund for {order} is being processed; expect {amount} back within {days} business days.",
    ),
    "invoice": (
        "Here is the invoice for {order} ({amount}, dated {date}). I've also emailed a PDF copy.",
        "I've sent the itemised receipt for {order} to the email on your account.",
    ),
    "product_info": (
        "The {product} is in stock for {amount}. It comes in three colours and ships within {days} days.",
        "Yes, we carry the {product}. It's {amount}, and customers rate it highly for the price.",
        "The {product} is currently out of stock; it's expected back on {date}.",
    ),
    "update_address": (
        "I've prepared the change of your default address. Orders already shipped keep the old address.",
        "Your default address can be updated; pending orders like {order} will use the new one.",
    ),
    "policy_question": (
        "Returns are accepted within 30 days of delivery for unused items in their original packaging [1].",
        "Standard shipping takes {days}-7 business days; express takes 2 business days [1].",
        "We accept Visa, Mastercard, American Express, PayPal and Larkspur gift cards [1].",
        "Refunds go back to the original payment method within 5-10 business days of receiving the return [1].",
        "International orders may be charged customs duties by the destination country [1][2].",
        "Warranty claims are accepted for one year from delivery; keep your order number handy [1].",
        "You can change your password from the account page; a reset link is valid for 24 hours [1].",
    ),
    "out_of_scope": (
        "I can only help with Larkspur Goods orders, products and policies. Is there anything about your orders "
        "I can do?",
        "That's outside what I can help with here. I can track orders, handle returns and answer shop questions.",
    ),
    "greeting": ("Hello! How can I help you today?", "Hi there! What can I do for you?"),
    "thanks": ("You're welcome! Anything else I can help with?", "Glad I could help!"),
    "goodbye": ("Goodbye, and have a lovely day!", "Thanks for chatting with Larkspur Goods. Take care!"),
}
FOLLOW_UPS = (
    "and when will it arrive?", "ok, what about order {order}?", "is that the {product}?", "can you check again",
    "how long will that take", "will I get an email about it?", "what was the total again", "perfect",
)
DONT_KNOW = (
    "I'm sorry, I couldn't find that in our help centre. Our support team can help at "
    "support@larkspurgoods.example (Mon-Fri 8:00-20:00 ET)."
)
ERROR_REPLY = "Sorry, something went wrong on our side. Please try again in a moment."
HAND_OVER = (
    "I've passed this conversation to a colleague (ticket {ticket}). They can join you right here in this chat; "
    "if you leave, they will follow up from support@larkspurgoods.example during our support hours."
)
HAND_OVER_REASONS = ("customer request", "policy exception needed", "repeated misunderstanding", "damaged item")
CARD = "**Please confirm this change:**\n- {action} on order {order}\n- {product}, {amount}"
CARD_DONE = {
    "confirmed": "Done: {action} on order {order}. You'll receive an email confirmation shortly.",
    "declined": "OK, I've left order {order} unchanged.",
    "expired": "That confirmation has expired; ask again if you still want to make the change.",
}
CARD_ACTIONS = {
    "cancel_pending_order": "Cancel the order", "modify_pending_order_items": "Change an item",
    "return_delivered_order_items": "Return an item", "exchange_delivered_order_items": "Exchange an item",
    "modify_user_address": "Change your default address",
}  # fmt: skip

_ORDER_ID = re.compile(r"#?W\d{7}")


def order_id(rng: random.Random) -> str:
    return f"#W{rng.randint(1000000, 9999999)}"


def slots(rng: random.Random, order: str) -> dict[str, str]:
    return {
        "order": order, "product": rng.choice(PRODUCTS), "status": rng.choice(STATUSES),
        "carrier": rng.choice(CARRIERS), "days": str(rng.randint(2, 7)),
        "date": f"2026-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}",
        "amount": f"${rng.randint(8, 480)}.{rng.randint(0, 99):02d}",
        "tracking": f"1Z{rng.getrandbits(40):010X}",
    }  # fmt: skip


def customer_text(template: str, order: str) -> str:
    """The example with its order number, if any, replaced by this conversation's order."""
    return _ORDER_ID.sub(order, template)
