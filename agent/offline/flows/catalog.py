"""Product questions: what a product costs, which variants exist, what is in stock. Open to anyone."""

from __future__ import annotations

import re
from typing import Any

from agent.offline import replies
from agent.offline.flows.base import Context, Step, call
from agent.offline.flows.slots import resolve

# Words of a product question that name no product ("do you have the ... in stock?").
_GENERIC = frozenset(
    "a about all an and any anything are available be buy can carry cost costs do does for have how i in is it "
    "many me much of on or price prices product products sell selling sold stock the there they this to what "
    "which with you your yours options option colors colours sizes come comes".split()
)
_WORD = re.compile(r"[a-z0-9-]+")


def product_info(ctx: Context) -> Step:
    catalog = ctx.state.cache.get("catalog")
    if catalog is None:
        return call("list_all_product_types")
    text = ctx.flow.heard("product_id")[0] if ctx.flow.heard("product_id") else ""
    if product_id := resolve(ctx, "product_id"):
        product = ctx.product(product_id)
        if product is None:
            return call("get_product_details", product_id=product_id)
        return ctx.done(replies.product(product, set(_WORD.findall(text.lower()))))
    query = " ".join(w for w in _WORD.findall(text.lower()) if w not in _GENERIC)
    if not query:
        return ctx.done(replies.catalogue(list(catalog)))
    found = ctx.flow.results.get("search_products")
    if found is None:
        return call("search_products", query=query, available_only=False)
    if matches := _whole_words(found["data"] or [], query):
        return ctx.done(replies.search_results(matches))
    return ctx.done(replies.unknown_product(query, list(catalog), ctx.app))


def _whole_words(results: list[dict[str, Any]], query: str) -> list[dict[str, Any]]:
    """The search matches parts of words ("car" in "carbon"); keep variants naming each word whole."""
    wanted = [word.rstrip("s") for word in query.split()]
    kept = []
    for entry in results:
        variants = [v for v in entry["variants"] if all(_has(entry["name"], v["options"], w) for w in wanted)]
        if variants:
            kept.append({**entry, "variants": variants})
    return kept


def _has(name: str, options: dict[str, Any], word: str) -> bool:
    text = " ".join([name, *map(str, options.values())]).lower()
    return any(token.rstrip("s") == word for token in _WORD.findall(text))
