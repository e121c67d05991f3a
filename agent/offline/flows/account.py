"""The customer's own record: their default address."""

from __future__ import annotations

import re

from agent.offline import entities, replies
from agent.offline.flows.base import Context, Step, Switched
from agent.offline.flows.choose import need_address
from agent.offline.flows.lookup import need_user
from agent.offline.intents import MODIFY_ORDER

_AN_ORDER = re.compile(r"\border\b", re.I)
_THE_ACCOUNT = re.compile(r"\b(account|default|profile|on file)\b", re.I)


def update_address(ctx: Context) -> Step:
    if _about_an_order(ctx.flow.heard("address")):
        # "change the address of #W1001003 to 1 Elm St" is that order's shipping address, never the account's.
        ctx.switch(MODIFY_ORDER, ("address",), kind="address")
        return Switched()
    if (step := need_user(ctx)) is not None:
        return step
    user = ctx.user
    assert user is not None
    if (step := need_address(ctx, replies.ask_default_address(user.get("address") or {}))) is not None:
        return step
    return ctx.write("modify_user_address", user_id=user["user_id"], **ctx.flow.get("address"))


def _about_an_order(said: list[str]) -> bool:
    return any((entities.order_ids(text) or _AN_ORDER.search(text)) and not _THE_ACCOUNT.search(text)
               for text in said)
