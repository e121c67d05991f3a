"""The customer's own record: their default address."""

from __future__ import annotations

from agent.offline import replies
from agent.offline.flows.base import Context, Step
from agent.offline.flows.choose import need_address
from agent.offline.flows.lookup import need_user


def update_address(ctx: Context) -> Step:
    if (step := need_user(ctx)) is not None:
        return step
    user = ctx.user
    assert user is not None
    if (step := need_address(ctx, replies.ask_default_address(user.get("address") or {}))) is not None:
        return step
    return ctx.write("modify_user_address", user_id=user["user_id"], **ctx.flow.get("address"))
