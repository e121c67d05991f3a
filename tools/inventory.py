"""The catalogue: products, their variants (items), prices and availability. Open to anyone."""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy import String, and_, cast, func, or_, select
from sqlalchemy.orm import selectinload

from tools.base import Tool, ToolResult, tool
from tools.store import shapes
from tools.store.access import StoreAccess, fold, not_found
from tools.store.models import Product, Variant
from tools.store.params import ProductId, Query

MAX_SEARCH_VARIANTS = 25  # enough to compare options in a reply; the model can narrow the query
MAX_QUERY_TERMS = 8
MIN_STEM_LENGTH = 4  # "shoes" → "shoe", but "bus" stays "bus"
_WORD = re.compile(r"\w+")


def _words(text: str) -> list[str]:
    return _WORD.findall(fold(text))


def terms(query: str) -> list[str]:
    """Lower-case words with a plural 's' dropped, so 'headphones' also finds 'Headphone'."""
    return [w[:-1] if len(w) >= MIN_STEM_LENGTH and w.endswith("s") else w for w in _words(query)[:MAX_QUERY_TERMS]]


def matches(words: list[str], name: str, options: dict[str, str]) -> bool:
    """Every query word starts a word of the name or of an option value ('red' is not in 'wired')."""
    haystack = _words(name) + [w for value in options.values() for w in _words(str(value))]
    return all(any(word.startswith(term) for word in haystack) for term in words)


def inventory_tools(access: StoreAccess) -> list[Tool]:
    @tool(backend="store")
    async def get_product_details(product_id: ProductId) -> ToolResult:
        """Get a product's details: name and every variant (item id, options, price, availability)."""
        async with access.catalog() as session:
            found = await session.get(Product, product_id.strip(), options=[selectinload(Product.variants)])
            if found is None:
                raise not_found("Product", product_id)
            return ToolResult.success(shapes.product(found))

    @tool(backend="store")
    async def list_all_product_types() -> ToolResult:
        """List the name and product id of every product type, sorted by name."""
        async with access.catalog() as session:
            rows = (await session.execute(select(Product.name, Product.id).order_by(Product.name))).all()
        return ToolResult.success(dict(sorted((row.name, row.id) for row in rows)))

    @tool(backend="store")
    async def search_products(query: Query, available_only: bool = True) -> ToolResult:
        """Find products and variants by name or option values, such as 'blue' or 'headphones wireless'.

        Returns each matching product with its matching variants: item id, options, price and availability.
        """
        words = terms(query)
        if not words:
            return ToolResult.success([], message="The query has no words to search for.")
        # SQL narrows by substring (options as JSON text); Python then keeps whole-word-prefix matches only.
        options = func.lower(cast(Variant.options, String))
        name = func.lower(Product.name)
        narrowed = and_(*(or_(name.contains(w, autoescape=True), options.contains(w, autoescape=True)) for w in words))
        # Plain columns, not entities: they outlive the session.
        statement = (
            select(Variant.id, Variant.product_id, Variant.options, Variant.price, Variant.available, Product.name)
            .join(Product)
            .where(narrowed)
            .order_by(Product.name, Product.position, Variant.position)
        )
        if available_only:
            statement = statement.where(Variant.available.is_(True))
        async with access.catalog() as session:
            rows = [row for row in await session.execute(statement) if matches(words, row.name, row.options)]
        products: dict[str, dict[str, Any]] = {}
        for row in rows[:MAX_SEARCH_VARIANTS]:
            empty = {"product_id": row.product_id, "name": row.name, "variants": []}
            entry = products.setdefault(row.product_id, empty)
            entry["variants"].append(
                {"item_id": row.id, "options": dict(row.options), "price": shapes.money(row.price),
                 "available": row.available}
            )  # fmt: skip
        results = list(products.values())
        if not results:
            message = f"No {'available ' if available_only else ''}product matches {query!r}."
        elif len(rows) > MAX_SEARCH_VARIANTS:
            message = f"Showing the first {MAX_SEARCH_VARIANTS} matching variants; narrow the query to see others."
        else:
            message = f"{sum(len(p['variants']) for p in results)} matching variant(s)."
        return ToolResult.success(results, message=message)

    return [get_product_details, list_all_product_types, search_products]
