"""Hand-over to a human colleague: one open help-desk ticket per conversation.

Support leads work the tickets in the workspace's queue (tools/store/tickets.py); what this tool does is in each
ticket's history too, with "assistant" as the actor: the creation, and a customer's return to a ticket that was
waiting on them (pending), which opens it again.
"""

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
from tools.store.models import Ticket, TicketEvent
from tools.store.tickets import ASSISTANT, QUEUE_STATUSES

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


def customer_line(customer_id: str | None, signed_in: bool = False) -> str:
    """The summary's line naming the customer (agent/offline writes its summaries with it)."""
    return f"Customer: {customer_id or ('signed in' if signed_in else 'not identified')}."


def naming_customer(summary: str, customer_id: str | None) -> str:
    """The summary, its "customer unknown" line naming the ticket's customer when the ticket has one.

    The summary is written from what the conversation remembers, which can be less than the ticket knows: an
    anonymous chat's memory rebuilt after its session expired has forgotten who was identified, yet the open
    ticket it hands over to again keeps that customer.
    """
    if not customer_id:
        return summary
    unknown = (customer_line(None), customer_line(None, signed_in=True))
    return "\n".join(customer_line(customer_id) if line in unknown else line for line in summary.split("\n"))


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
                    .where(Ticket.conversation_id == ctx.conversation_id, Ticket.status.in_(QUEUE_STATUSES))
                    .order_by(Ticket.created_at.desc())
                    .limit(1)
                )).first()  # fmt: skip
                now = utcnow()
                if ticket is None:
                    ticket = Ticket(
                        id=new_ticket_id(), conversation_id=ctx.conversation_id, status="open", reason=reason,
                        # The workspace's page for the conversation, which opens its transcript for staff.
                        transcript_url=f"{settings.store.public_url.rstrip('/')}/workspace/conversations/"
                        f"{ctx.conversation_id}",
                        created_at=now, updated_at=now, summary=naming_customer(summary, ctx.customer_id),
                        customer_id=ctx.customer_id,
                    )  # fmt: skip
                    session.add(ticket)
                    await session.flush()  # the ticket's row first: its events point at it
                    session.add(TicketEvent(ticket_id=ticket.id, at=now, actor=ASSISTANT, kind="created",
                                            to_value="open"))  # fmt: skip
                else:
                    # The same hand-over, told again: keep one ticket with the latest account of it.
                    ticket.customer_id = ticket.customer_id or ctx.customer_id
                    ticket.summary = naming_customer(summary, ticket.customer_id)
                    ticket.updated_at = now
                    session.add(TicketEvent(ticket_id=ticket.id, at=now, actor=ASSISTANT, kind="note",
                                            note="The customer asked for a person again; the summary is updated."))
                    if ticket.status == "pending":  # it waited on the customer, who is back
                        session.add(TicketEvent(ticket_id=ticket.id, at=now, actor=ASSISTANT, kind="status",
                                                from_value="pending", to_value="open"))  # fmt: skip
                        ticket.status = "open"
        app = settings.app
        message = (
            f"I've passed this conversation to a colleague (ticket {ticket.id}). They can join you right here in "
            f"this chat; if you leave, they will follow up from {app.support_email} during our support hours "
            f"({app.support_hours})."
        )
        data = {"ticket_id": ticket.id, "status": ticket.status, "reason": ticket.reason}
        return ToolResult(ok=True, data=data, message=message, ticket=ticket.id)

    return [transfer_to_human_agents]
