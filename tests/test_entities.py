"""Entity extractors: what they find, and what they must not find."""

from __future__ import annotations

import pytest

from agent.offline import entities as e

VISA = {"source": "credit_card", "id": "credit_card_1", "brand": "visa", "last_four": "4242"}
MASTERCARD = {"source": "credit_card", "id": "credit_card_2", "brand": "mastercard", "last_four": "5555"}
GIFT_CARD = {"source": "gift_card", "id": "gift_card_1", "balance": 40}
PAYPAL = {"source": "paypal", "id": "paypal_1"}
BLACK_HEADPHONES = {"name": "Headphones", "item_id": "100", "options": {"color": "black", "connectivity": "wireless"}}
BLUE_HEADPHONES = {"name": "Headphones", "item_id": "200", "options": {"color": "blue", "connectivity": "wired"}}
KEYBOARD = {"name": "Mechanical Keyboard", "item_id": "300", "options": {"switch type": "linear", "size": "full size"}}
SHIRT = {"name": "T-Shirt", "item_id": "400", "options": {"color": "red", "size": "M"}}
SHOES = {"name": "Running Shoes", "item_id": "500", "options": {"color": "white", "size": "9"}}


@pytest.mark.parametrize("text, expected", [
    ("where is #W1234567?", ["#W1234567"]),
    ("order W7654321 and w1111111", ["#W7654321", "#W1111111"]),
    ("my order 2222222 hasn't come", ["#W2222222"]),
    ("order number: 3333333", ["#W3333333"]),
    ("order #4444444", ["#W4444444"]),
    ("#W1234567 again: #W1234567", ["#W1234567"]),
])
def test_order_ids_are_normalized(text, expected):
    assert e.order_ids(text) == expected


@pytest.mark.parametrize("text", [
    "W12345678 has eight digits", "call 1234567", "order 123456", "AW1234567", "I ordered 1234567 things",
])
def test_order_ids_false_positives(text):
    assert e.order_ids(text) == []


def test_emails_are_found_and_lower_cased():
    assert e.emails("I'm Dana.Whitfield@Example.com. Or dana+shop@mail.example.org") == [
        "dana.whitfield@example.com", "dana+shop@mail.example.org"
    ]
    assert e.emails("no email @ here") == []


@pytest.mark.parametrize("text, expected", [
    ("my zip is 97205", ["97205"]),
    ("zip 98101-1234", ["98101"]),
    ("Dana Whitfield, 97205", ["97205"]),
])
def test_zip_codes(text, expected):
    assert e.zip_codes(text) == expected


@pytest.mark.parametrize("text", [
    "order #W1297205", "call 503-555-1234", "it cost $12345", "12345 Main Street", "a97205@example.com",
    "phone 5035551234", "12345.67 dollars", "10000 points",
])
def test_zip_codes_false_positives(text):
    assert e.zip_codes(text) == []


@pytest.mark.parametrize("text", [
    "I'm Dana Whitfield", "my name is dana whitfield", "Dana Whitfield 97205", "name: Dana Whitfield",
    "hi im dana whitfield zip 97205", "This is Dana Whitfield from Portland", "dana whitfield, 97205",
])
def test_person_name(text):
    assert e.person_name(text) == ("Dana", "Whitfield")


def test_person_name_keeps_mixed_case():
    assert e.person_name("my name is Ann McDonald") == ("Ann", "McDonald")


@pytest.mark.parametrize("text", [
    "I'm having trouble with my order", "I am not sure", "my zip is 97205", "I'm returning both items",
    "this is my second order", "I am looking for headphones", "it's been two weeks",
])
def test_person_name_false_positives(text):
    assert e.person_name(text) is None


@pytest.mark.parametrize("text, reason", [
    ("I don't need it anymore", e.NO_LONGER_NEEDED),
    ("changed my mind", e.NO_LONGER_NEEDED),
    ("found it cheaper elsewhere", e.NO_LONGER_NEEDED),
    ("no longer needed", e.NO_LONGER_NEEDED),
    ("I ordered the wrong thing", e.ORDERED_BY_MISTAKE),
    ("by accident", e.ORDERED_BY_MISTAKE),
    ("ordered it acidentally", e.ORDERED_BY_MISTAKE),
    ("it was a mistake", e.ORDERED_BY_MISTAKE),
    ("duplicate order", e.ORDERED_BY_MISTAKE),
    ("I ordered it twice", e.ORDERED_BY_MISTAKE),
])
def test_cancel_reason(text, reason):
    assert e.cancel_reason(text) == reason


@pytest.mark.parametrize("text", ["please cancel it", "it's a gift", "where is my order"])
def test_cancel_reason_none(text):
    assert e.cancel_reason(text) is None


@pytest.mark.parametrize("text, expected", [
    ("my gift card", "gift_card_1"),
    ("the gift-card", "gift_card_1"),
    ("the visa ending 4242", "credit_card_1"),
    ("card ending in 5555", "credit_card_2"),
    ("paypal", "paypal_1"),
    ("use paypall", "paypal_1"),
    ("the mastercard", "credit_card_2"),
    ("original payment method", e.ORIGINAL_PAYMENT),
    ("same card please", e.ORIGINAL_PAYMENT),
    ("back to the card I paid with", e.ORIGINAL_PAYMENT),
])
def test_payment_reference(text, expected):
    assert e.payment_reference(text, [VISA, MASTERCARD, GIFT_CARD, PAYPAL]) == expected


def test_payment_reference_needs_exactly_one_match():
    assert e.payment_reference("the card", [VISA, MASTERCARD]) is None, "two cards: ask which"
    assert e.payment_reference("the card", [VISA, GIFT_CARD]) == "credit_card_1"
    assert e.payment_reference("paypal", [VISA]) is None, "a method the customer doesn't have"
    assert e.payment_reference("ending 9999", [VISA]) is None
    assert e.payment_reference("amex", [VISA, MASTERCARD]) is None


@pytest.mark.parametrize("text, expected", [
    ("the keyboard", ["300"]),
    ("the keybaord", ["300"]),
    ("headphones", ["100", "200"]),
    ("the blue one", ["200"]),
    ("the black wireless ones", ["100"]),
    ("the first one", ["100"]),
    ("second", ["200"]),
    ("the last one", ["300"]),
    ("both", ["100", "200", "300"]),
    ("all of them", ["100", "200", "300"]),
    ("the keyboard and the black headphones", ["100", "300"]),
    ("the pizza", []),
    ("that's all", []),
])
def test_item_references(text, expected):
    assert e.item_references(text, [BLACK_HEADPHONES, BLUE_HEADPHONES, KEYBOARD]) == expected


def test_item_references_by_name_variants_and_options():
    items = [SHIRT, SHOES]
    assert e.item_references("the tshirt", items) == ["400"]
    assert e.item_references("the t shirt", items) == ["400"]
    assert e.item_references("the shoe", items) == ["500"]
    assert e.item_references("the medium one", items) == ["400"]
    assert e.item_references("size 9", items) == ["500"]


def test_both_identical_items_returns_each():
    assert e.item_references("both", [BLACK_HEADPHONES, BLACK_HEADPHONES]) == ["100", "100"]


@pytest.mark.parametrize("text, expected", [
    ("2", 1), ("number 3", 2), ("option 1", 0), ("the second one", 1), ("one", 0), ("last", 2),
    ("desk lamp", 1), ("the lamp", 1), ("lapto", 2), ("#W1111111", 2), ("4", None), ("the pizza", None),
])
def test_choice(text, expected):
    assert e.choice(text, ["#W1234567 (Headphones)", "#W7654321 (Desk Lamp)", "#W1111111 (Laptop)"]) == expected


def test_choice_without_options():
    assert e.choice("1", []) is None
    assert e.choice("", ["a"]) is None


@pytest.mark.parametrize("text, expected", [
    ("yes", True), ("Yesss!", True), ("yeah go ahead", True), ("sure", True), ("ok", True), ("confirm", True),
    ("no problem", True), ("no", False), ("nope", False), ("no thanks", False), ("that's not right", False),
    ("don't", False), ("not sure", None), ("maybe", None), ("where is my order", None), ("", None),
])
def test_yes_no(text, expected):
    assert e.yes_no(text) is expected


@pytest.mark.parametrize("text, expected", [
    ("never mind", True), ("nevermind", True), ("forget it", True), ("cancel that", True), ("stop", True),
    ("please stop", True), ("nvm, I found it", True), ("cancel that order", False),
    ("cancel my order", False), ("my package stopped moving", False), ("yes", False),
])
def test_never_mind(text, expected):
    assert e.never_mind(text) is expected


@pytest.mark.parametrize("text, expected", [
    ("actually, the other one", True), ("no, the other one", True), ("I meant the blue one", True),
    ("wrong order", True), ("oops, not that one", True), ("yes please", False), ("the blue one", False),
])
def test_correction(text, expected):
    assert e.correction(text) is expected


@pytest.mark.parametrize("text, expected", [
    ("change the shipping address", "address"),
    ("send it to my office instead", "address"),
    ("I need a different size", "items"),
    ("swap the color", "items"),
    ("pay with paypal instead", "payment"),
    ("use my gift card", "payment"),
    ("chnage the adress", "address"),
    ("hello", None),
])
def test_modify_kind(text, expected):
    assert e.modify_kind(text) == expected


def test_address_full():
    assert e.address("221 Pine Street, Apt 3, Seattle, WA 98101, USA") == {
        "address1": "221 Pine Street", "address2": "Apt 3", "city": "Seattle", "state": "WA",
        "zip": "98101", "country": "USA",
    }


@pytest.mark.parametrize("text, address1, address2, city, state, zip_code", [
    ("ship it to 14 Cedar Lane, Austin, TX 78701 please", "14 Cedar Lane", "", "Austin", "TX", "78701"),
    ("88 Oak Ave Suite 5, San Francisco, ca 94105-1234", "88 Oak Ave", "Suite 5", "San Francisco", "CA", "94105"),
    ("my new address is 5 Maple Rd., Boston MA 02108", "5 Maple Rd.", "", "Boston", "MA", "02108"),
    ("7 Lake View Drive, Apt 2, Madison, WI 53703, United States", "7 Lake View Drive", "Apt 2", "Madison", "WI",
     "53703"),
])
def test_address_variants(text, address1, address2, city, state, zip_code):
    assert e.address(text) == {
        "address1": address1, "address2": address2, "city": city, "state": state, "zip": zip_code, "country": "USA",
    }


@pytest.mark.parametrize("text", [
    "order #W1234567 has 2 items", "call me at 503-555-1234", "12 Oak Rd, Springfield, ZZ 12345",
    "I moved to Seattle", "",
])
def test_address_false_positives(text):
    assert e.address(text) is None


def test_without_identifiers_blanks_ids_and_emails():
    assert e.without_identifiers("cancel #W1234567 for dana@example.com").split() == ["cancel", "for"]
