"""Hand-over to a human colleague: one open help-desk ticket per conversation."""

from __future__ import annotations

import secrets
import string
from typing import Annotated

from pydantic import Field
from sqlalchemy import select

from tools.store.sql import utcnow
from tools.settings import ToolConfig
from tools.base import Tool, ToolContext, ToolResult, tool
from tools.store.access import transient_errors
from tools.store.db import StoreDatabase
from tools.store.models import Ticket

TICKET_ID_LENGTH = 8
_TICKET_ALPHABET = string.ascii_uppercase + string.digits
MAX_SUMMARY_CHARS = 4000

Summary = Annotated[
    str, Field(min_length=1, max_length=MAX_SUMMARY_CHARS, description="A summary of the customer's issue")
]
Reason = Annotated[
    str, Field(min_length=1, max_length=255, description="Why a human is needed, such as 'customer request'")
]


def new_ticket_id() -> str:
    return "T-" + "".join(secrets.choice(_TICKET_ALPHABET) for _ in range(TICKET_ID_LENGTH))


def escalation_tools(db: StoreDatabase, settings: ToolConfig) -> list[Tool]:
    @tool(backend="helpdesk", hands_over=True)
    async def transfer_to_human_agents(
        ctx: ToolContext, summary: Summary, reason: Reason = "customer request"
    ) -> ToolResult:
        """Transfer the customer to a human agent, with a summary of their issue.

        Only transfer if the customer explicitly asks for a human, or if the policy and the available tools
        cannot solve the issue.
        """
        with transient_errors():
            async with db.session() as session:
                ticket = (await session.scalars(
                    select(Ticket)
                    .where(Ticket.conversation_id == ctx.conversation_id, Ticket.status == "open")
                    .order_by(Ticket.created_at.desc())
                    .limit(1)
                )).first()  # fmt: skip
                if ticket is None:
                    ticket = Ticket(
                        id=new_ticket_id(), conversation_id=ctx.conversation_id, status="open", reason=reason,
                        # The read-only transcript staff may open (/thread/<id> is the customer's own page).
                        transcript_url=f"{settings.store.public_url.rstrip('/')}/share/{ctx.conversation_id}",
                        created_at=utcnow(), summary=summary, customer_id=ctx.customer_id,
                    )  # fmt: skip
                    session.add(ticket)
                else:
                    # The same hand-over, told again: keep one ticket with the latest account of it.
                    ticket.summary = summary
                    ticket.customer_id = ticket.customer_id or ctx.customer_id
        app = settings.app
        message = (
            f"I've passed this conversation to a colleague (ticket {ticket.id}). They will follow up from "
            f"{app.support_email} during our support hours ({app.support_hours})."
        )
        data = {"ticket_id": ticket.id, "status": ticket.status, "reason": ticket.reason}
        return ToolResult.success(data, message=message)

    return [transfer_to_human_agents]
