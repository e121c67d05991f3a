"""What the dialogue engine says to customers: every sentence in one place, so the voice stays one voice.

Store facts (statuses, amounts, payment methods) come in as arguments; nothing here reads the store.
"""

from __future__ import annotations

from typing import Any

from agent.settings import AppSettings

# Quick replies; each is sent back as the customer's next message when clicked.
STARTERS = ("Where is my order?", "I want to return an item", "Cancel an order", "How long does shipping take?")
CANCEL_REASONS = {"No longer needed": "no longer needed", "Ordered by mistake": "ordered by mistake"}
MODIFY_KINDS = {"Shipping address": "address", "Items (size, colour…)": "items", "Payment method": "payment"}
ALL_ITEMS = "All of them"
TALK_TO_PERSON = "Talk to a person"
CANCEL_INSTEAD = "Cancel this order"
MODIFY_INSTEAD = "Change this order"
RETURN_INSTEAD = "Return items instead"
KEEP_GOING = "Continue"

CAPABILITIES = (
    "I can check and track your orders, cancel or change a pending order, arrange returns and exchanges "
    "of delivered items, tell you where a refund stands, send a receipt, answer questions about our "
    "products, and explain our policies"
)
CONFIRM_BUTTON = (
    "I can't confirm changes from a typed message. Please click **Confirm** on the card above to go ahead, "
    "or **Cancel** to leave everything as it is."
)
CARD_DROPPED = "All right, I won't go ahead with that. Nothing has been changed, and that card no longer applies."
DROPPED = "No problem, I've stopped there. Nothing has been changed. Is there anything else I can help with?"
THANKS = "You're welcome! Is there anything else I can help you with?"
WELCOME = "You're welcome!"
HELLO_AGAIN = "Hello again!"
ASK_IDENTITY = (
    "To help with {doing}, I first need to find your account. What's the email address on it? "
    "(Or tell me your first name, last name and zip code.)"
)
ASK_ZIP = "Thanks. And what's the zip code on your account?"
ASK_NAME = "Thanks. And what are your first and last name, as on your account?"
CHECK_DETAILS = "Could you check the details, or try the email address (or name and zip code) instead?"
FOUND_ACCOUNT = "Thanks, I've found your account."
ASK_ADDRESS = (
    "What's the new address? Please write it in one line, for example: "
    "12 Oak Street, Apt 3, Portland, OR 97205."
)
ADDRESS_UNCLEAR = "I couldn't read a full address there: I need the street, city, state and zip code."
NO_ORDERS = "I can't see any orders on your account."
UNAVAILABLE = (
    "I'm sorry, our order system isn't answering right now, so I can't do that at the moment. "
    "Please try again in a few minutes"
)
NOT_UNDERSTOOD = "Sorry, I didn't quite get that."
TRY_AGAIN_OR_PERSON = "Could you say it another way? I can also pass you to a colleague."
ANYTHING_ELSE = "All right. Is there anything else I can help you with?"
CARD_WAITING = "Your change is still waiting on the card above: click **Confirm** to go ahead, or **Cancel**."
CONTINUE = "I've gathered what I need so far. Shall I carry on?"
BACK_TO = "Back to {doing}:"
SEVERAL = "You'd like {numbered}. Let's start with the first."
NEXT_REQUEST = "Next, ({number}) “{quote}”:"
SET_ASIDE = "I've set aside {doing}; let's move on to {next}."
HANDED_OVER = "{why}{message} They'll see a summary of our conversation, so you won't need to repeat yourself."

# What happens once the customer clicks Confirm, by write tool.
AFTER_CONFIRM = {
    "cancel_pending_order": (
        "the order is cancelled and every payment goes back to the method it came from "
        "(a gift card right away, a card or PayPal within 5–7 business days)"
    ),
    "return_delivered_order_items": (
        "the return is requested and you'll get an email explaining how to send the items back; "
        "the refund is issued once our warehouse has received and checked them"
    ),
    "exchange_delivered_order_items": (
        "the exchange is requested and you'll get an email explaining how to send the items back; "
        "any price difference is settled as shown on the card"
    ),
    "modify_pending_order_address": "the order ships to the new address",
    "modify_pending_order_payment": "the new payment method is charged and the old one refunded",
    "modify_pending_order_items": (
        "the items are swapped, with any price difference settled as shown; an order's items can only be "
        "changed once, so make sure the card lists everything"
    ),
    "modify_user_address": "your default address is updated (orders already placed keep their address)",
}
DOING = {
    "order_status": "checking an order",
    "cancel_order": "cancelling an order",
    "modify_order": "changing an order",
    "return_items": "returning items",
    "exchange_items": "exchanging items",
    "refund_status": "checking a refund",
    "invoice": "getting a receipt",
    "product_info": "looking up a product",
    "update_address": "updating your address",
}


def money(amount: float | int | str) -> str:
    return f"${float(amount):,.2f}"


def human_contact(app: AppSettings) -> str:
    return f"email {app.support_email} ({app.support_hours})"


def for_shop(template: str, app: AppSettings) -> str:
    """A reply naming the shop ({store}), how to reach a person ({contact}) and what the assistant does."""
    return template.format(store=app.store_name, contact=human_contact(app), capabilities=CAPABILITIES)


GREETING = "Hello! I'm the {store} assistant. {capabilities}. What can I do for you?"
GOODBYE = "Thanks for contacting {store}. Have a great day!"
OUT_OF_SCOPE = (
    "I'm sorry, I don't know about that: I'm the {store} assistant. {capabilities}. "
    "For anything else, our team is happy to help: {contact}."
)
NOT_UNDERSTOOD_HERE = NOT_UNDERSTOOD + " {capabilities}. " + TRY_AGAIN_OR_PERSON
UNAVAILABLE_NOW = UNAVAILABLE + ", or {contact}."
STILL_WITH_COLLEAGUE = (
    "Sorry, I didn't understand that. A colleague already has our conversation and will follow up; "
    "meanwhile I can still help with orders, returns and questions."
)
ESCALATION_FAILED = "I couldn't open a ticket for a colleague just now. Please {contact}, and they'll help you."
NOT_OFFERED = "I can't do that in this chat. Please {contact}, and a colleague will help you."


HANDOVER_WHY = {
    "assistant did not understand": "I'm having trouble understanding, so I've asked a colleague to help. ",
    "policy does not allow the request": (
        "That's beyond what I'm allowed to do, so I've asked a colleague to look at it. "
    ),
}


def confirm_card(tool: str) -> str:
    after = AFTER_CONFIRM.get(tool, "the change is made")
    return (
        "Please check the summary above and click **Confirm** to go ahead, or **Cancel** to leave everything "
        f"as it is. Once you confirm, {after}."
    )


def payment_label(method: dict[str, Any]) -> str:
    """'Visa ending 4242', 'Gift card (balance $150.00)', 'PayPal'."""
    source = method.get("source")
    if source == "credit_card":
        return f"{str(method.get('brand') or 'card').title()} ending {method.get('last_four', '')}".strip()
    if source == "gift_card":
        return f"Gift card (balance {money(method.get('balance', 0))})"
    if source == "paypal":
        return "PayPal"
    return str(method.get("id", "payment method"))


def item_label(item: dict[str, Any]) -> str:
    """'Headphones (black, wireless)': the option values say which variant without the keys' noise."""
    values = ", ".join(str(v) for v in (item.get("options") or {}).values())
    return f"{item['name']} ({values})" if values else str(item["name"])


def variant_label(variant: dict[str, Any]) -> str:
    values = ", ".join(str(v) for v in (variant.get("options") or {}).values())
    return f"{values or variant['item_id']} ({money(variant['price'])})"


def order_label(order: dict[str, Any]) -> str:
    """'#W1001001 · Headphones, Mechanical Keyboard (delivered)'."""
    names = list(dict.fromkeys(order.get("items") or []))
    return f"{order['order_id']} · {', '.join(names) or 'no items'} ({order.get('status', 'unknown')})"


def join(words: list[str]) -> str:
    if len(words) <= 1:
        return "".join(words)
    return ", ".join(words[:-1]) + " and " + words[-1]


# --- orders

NO_REFUNDS = (
    "I can't see a refund on any of your orders: refunds come from a cancellation, a return, an exchange or an "
    "item change, and none of your orders has one. If you mean a particular order, tell me its number."
)
ASK_ITEMS_TO_RETURN = "Which items would you like to return?"
ASK_ITEMS_TO_EXCHANGE = "Which items would you like to exchange?"
ASK_ITEMS_TO_CHANGE = "Which items would you like to swap? (An order's items can only be changed once.)"
REFUND_METHODS = "A refund can go back to the original payment method or onto a gift card, nowhere else."
ASK_MODIFY_KIND = "What would you like to change on order {order_id}?"
ASK_REFUND_METHOD = "Where should the refund go: back to {original} (the original payment method), or onto a gift card?"
ASK_NEW_PAYMENT = "Which payment method should pay the order ({total}) instead?"
ASK_VARIANT = "Which {name} would you like instead of the {label}?"
# "in white" when the only white one is wired: what else it changes, asked before any card.
VARIANT_TRADE_OFF = (
    "The only {said} option for the {name} is {values}, which is {changes}. Would you like that one, or another?"
)
YES_THAT_ONE = "Yes:"  # the first button of VARIANT_TRADE_OFF, before the variant's label
NO_VARIANTS = "I'm sorry, there's no other variant of the {label} available right now, so it can't be swapped."
SWAP_INSTEAD = "Order {order_id} hasn't shipped yet, so instead of an exchange I can swap the item in the order."
EXCHANGE_INSTEAD = "Order {order_id} has already been delivered, so this will be an exchange: you send the item back."
WRITE_REFUSED = "I couldn't prepare that change: {reason}. Nothing has been changed."
WORKING_ON = "{action} {items} from order {order_id}."  # what the flow understood, before its next question
PAYMENT_NOT_OFFERED = "That payment method can't be used for this."
NO_PAYMENT_METHOD = "There's no other payment method on your account that can be used for this."
STATUS_MEANING = {
    "pending": "we have it, and it goes to our warehouse within 1 business day; until then it can still be "
               "cancelled or changed",
    "pending (item modified)": "its items were changed and it is waiting for our warehouse",
    "processed": "our warehouse is packing and shipping it, so it can no longer be cancelled or changed",
    "delivered": "the carrier confirmed delivery; items can be returned or exchanged within 30 days",
    "cancelled": "it won't be shipped, and its payment was refunded",
    "return requested": "a return is under way: please send the items back within 14 days with the label we emailed",
    "exchange requested": "an exchange is under way: please send the items back with the label we emailed",
}


def tracking(data: dict[str, Any]) -> str:
    status = data.get("status", "")
    lines = [f"Order {data['order_id']} is **{status}**: {STATUS_MEANING.get(status, 'that is its current status')}."]
    for package in data.get("packages", []):
        lines.append(f"- Tracking {', '.join(package['tracking_ids'])}: {'; '.join(package['items'])}")
    if not data.get("packages") and status != "cancelled":
        lines.append("Nothing has shipped yet, so there's no tracking number; we email it when the order ships.")
    elif data.get("not_shipped"):
        lines.append(f"Not shipped yet: {'; '.join(data['not_shipped'])}.")
    return "\n".join(lines)


def receipt(data: dict[str, Any]) -> str:
    lines = [f"Receipt for order {data['order_id']} ({data.get('status', '')}), placed {data.get('placed') or 'n/a'}:"]
    lines += [f"- {line['description']}: {money(line['price'])}" for line in data.get("lines", [])]
    lines.append(f"Subtotal {money(data['subtotal'])}.")
    for payment in data.get("payments", []):
        lines.append(f"Paid {money(payment['amount'])} with {payment['method']}.")
    for refund in data.get("refunds", []):
        lines.append(f"Refunded {money(refund['amount'])} to {refund['method']}.")
    lines.append(f"Net paid: {money(data['net_paid'])}.")
    return "\n".join(lines)


def nothing_pending(action: str) -> str:
    return (
        f"None of your orders is pending, and only pending orders can be {_done(action)}: once our warehouse "
        "has an order, it ships as it is. A delivered order can be returned within 30 days."
    )


def nothing_delivered(action: str) -> str:
    return (
        f"None of your orders is marked delivered yet, and only delivered orders can be {_done(action)}. "
        "An order that hasn't shipped can still be cancelled or changed while it is pending."
    )


def _done(action: str) -> str:
    return {"cancel": "cancelled", "change": "changed", "change items": "changed", "return": "returned",
            "exchange": "exchanged"}.get(action, action)


def not_possible(action: str, order: dict[str, Any]) -> tuple[str, dict[str, str]]:
    """Why `action` can't be done on this order, and the requests that can be made instead."""
    order_id, status = order["order_id"], order["status"]
    head = f"Order {order_id} is **{status}**, so it can't be {_done(action)}"
    if status == "pending" and action in ("return", "exchange"):
        return (f"{head} yet: only delivered orders can be {_done(action)}. While it is pending, you can cancel it "
                "or change it (address, payment or items) instead.",
                {CANCEL_INSTEAD: "cancel_order", MODIFY_INSTEAD: "modify_order"})
    if status == "pending (item modified)":
        if action in ("return", "exchange"):
            return (f"{head} yet: only delivered orders can be. You can still change its address or payment "
                    "method.", {MODIFY_INSTEAD: "modify_order"})
        return (f"{head}: its items were already changed once, and after that an order can only have its "
                "address or payment method changed.", {MODIFY_INSTEAD: "modify_order"})
    if status == "processed":
        return (f"{head}: our warehouse is already packing and shipping it. Once it's delivered, you can return "
                "or exchange items within 30 days.", {})
    if status == "delivered":
        return (f"{head}: it has already arrived. You can return or exchange items from it within 30 days.",
                {RETURN_INSTEAD: "return_items"})
    if status in ("return requested", "exchange requested"):
        return (f"{head}: a {status.split()[0]} is already under way for it, and an order can have only one.", {})
    return f"{head}.", {}


def ask_reason(order: dict[str, Any]) -> str:
    names = join(list(dict.fromkeys(item["name"] for item in order.get("items", []))))
    return f"Order {order['order_id']} ({names}) can be cancelled. Why would you like to cancel it?"


def ask_difference_method(difference: float) -> str:
    if difference > 0:
        return f"The new items cost {money(difference)} more. Which payment method should pay the difference?"
    if difference < 0:
        return f"The new items cost {money(-difference)} less. Where should the difference be refunded?"
    return "There's no price difference. Which payment method should the change be recorded against?"


# --- account


ACCOUNT_DETAILS = (
    "Here is what your account holds:\n- Email: {email}\n- Default address: {address}\n- Payment methods: {methods}\n\n"
    "Would you like to change any of it?"
)
ORDER_SHIPS_TO = "Order {order_id} ships to {address}."
ASK_WHICH_ORDER_DETAILS = "Which order would you like the details of?"


def address(fields: dict[str, Any]) -> str:
    """'12 Larkspur Lane, Apt 4, Portland, OR 97205, USA'."""
    region = " ".join(str(fields.get(k) or "") for k in ("state", "zip")).strip()
    parts = [fields.get("address1"), fields.get("address2"), fields.get("city"), region, fields.get("country")]
    return ", ".join(str(p) for p in parts if p)


def ask_default_address(current: dict[str, Any]) -> str:
    shown = address(current)
    return (f"Your default address is {shown}. " if shown else "") + ASK_ADDRESS


# --- products

MAX_VARIANTS_LISTED = 8  # a longer list is unreadable in a chat bubble


def product(doc: dict[str, Any], words: set[str]) -> str:
    """A product's variants, prices and stock; only those matching option words the customer used."""
    variants = list(doc["variants"].values())
    wanted = [v for v in variants if any(str(value).lower() in words for value in v["options"].values())]
    shown = wanted or variants
    in_stock = [v for v in shown if v["available"]]
    prices = [float(v["price"]) for v in shown]
    head = (f"**{doc['name']}**: {len(in_stock)} of {len(shown)} "
            f"{'matching ' if wanted else ''}variants are in stock, from {money(min(prices))} to {money(max(prices))}.")
    lines = [head]
    for variant in shown[:MAX_VARIANTS_LISTED]:
        stock = "in stock" if variant["available"] else "sold out"
        lines.append(f"- {variant_label(variant)}: {stock}")
    if len(shown) > MAX_VARIANTS_LISTED:
        lines.append(f"…and {len(shown) - MAX_VARIANTS_LISTED} more. Tell me a colour, size or option to narrow it.")
    return "\n".join(lines)


def search_results(found: list[dict[str, Any]]) -> str:
    lines = ["Here's what I found:"]
    for entry in found:
        stock = sum(1 for v in entry["variants"] if v["available"])
        lines.append(f"- **{entry['name']}**: {stock} of {len(entry['variants'])} matching variants in stock")
        for variant in entry["variants"][:MAX_VARIANTS_LISTED]:
            lines.append(f"  - {variant_label(variant)}: {'in stock' if variant['available'] else 'sold out'}")
    return "\n".join(lines)


CATALOGUE_SHOWN = 12  # product names named in a reply; the rest are counted


def some(names: list[str]) -> str:
    shown = sorted(names)[:CATALOGUE_SHOWN]
    rest = len(names) - len(shown)
    return ", ".join(shown) + (f" and {rest} more" if rest > 0 else "")


def catalogue(names: list[str]) -> str:
    return f"We sell {len(names)} kinds of products, among them {some(names)}. Ask me about any of them."


UNKNOWN_PRODUCT = (
    "I'm sorry, I don't know of any product matching \u201c{query}\u201d in our catalogue (we sell {some}). "
    "For anything else, our team can help: {contact}."
)


def unknown_product(query: str, names: list[str], app: AppSettings) -> str:
    return UNKNOWN_PRODUCT.format(query=query, some=some(names), contact=human_contact(app))
