"""Argument types of the store tools, named as in τ-bench retail, with descriptions the model reads."""

from __future__ import annotations

from typing import Annotated

from pydantic import AfterValidator, Field

from tools.store.access import normalize_email, normalize_order_id

MAX_ITEMS_PER_CHANGE = 50  # far above any real order; only keeps a runaway argument list bounded

_ORDER_ID = "The order id, such as '#W0000000' (the '#' may be left out)"
_PAYMENT_METHOD_ID = "A payment method id of the customer, such as 'gift_card_0000000' or 'credit_card_0000000'"
_ITEM_IDS = "Item ids from the order, such as '1008292230'; repeat an id for each unit of it"
_NEW_ITEM_IDS = "The new item ids, position by position: each a variant of the same product as the old item"
_QUERY = "Words from a product name or option values, such as 'headphones wireless' or 'blue'"

OrderId = Annotated[str, Field(min_length=2, max_length=32, description=_ORDER_ID), AfterValidator(normalize_order_id)]
UserId = Annotated[str, Field(min_length=1, max_length=64, description="The user id, such as 'sara_doe_496'")]
ProductId = Annotated[str, Field(min_length=1, max_length=32, description="The product id (not an item id)")]
PaymentMethodId = Annotated[str, Field(min_length=1, max_length=64, description=_PAYMENT_METHOD_ID)]
ItemIds = Annotated[list[str], Field(min_length=1, max_length=MAX_ITEMS_PER_CHANGE, description=_ITEM_IDS)]
NewItemIds = Annotated[list[str], Field(min_length=1, max_length=MAX_ITEMS_PER_CHANGE, description=_NEW_ITEM_IDS)]
Query = Annotated[str, Field(min_length=2, max_length=200, description=_QUERY)]

FirstName = Annotated[str, Field(min_length=1, max_length=100, description="The first name, such as 'John'")]
LastName = Annotated[str, Field(min_length=1, max_length=100, description="The last name, such as 'Doe'")]
Email = Annotated[
    str, Field(min_length=3, max_length=255, description="The email, such as 'something@example.com'"),
    AfterValidator(normalize_email),
]  # fmt: skip
Address1 = Annotated[str, Field(min_length=1, max_length=255, description="First address line, such as '123 Main St'")]
Address2 = Annotated[str, Field(max_length=255, description="Second address line, such as 'Apt 1', or ''")]
City = Annotated[str, Field(min_length=1, max_length=100, description="The city, such as 'San Francisco'")]
State = Annotated[str, Field(max_length=100, description="The state, such as 'CA'")]
Country = Annotated[str, Field(min_length=1, max_length=100, description="The country, such as 'USA'")]
Zip = Annotated[str, Field(min_length=1, max_length=20, description="The zip code, such as '12345'")]
