"""What every store tool shares: whose records a conversation may touch, and how a write is confirmed.

A record of another customer reads exactly like one that does not exist, so probing ids learns nothing.
A write runs in two passes: without a confirmation token it is computed in full and rolled back (the
customer sees exactly what would happen); with one, it is applied together with an `AppliedAction` row
keyed by the token, in one transaction, so a repeated or concurrent click applies it once.
"""

from __future__ import annotations

import unicodedata
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import load_only, raiseload, selectinload

from tools.store.sql import is_transient, utcnow
from tools.base import ToolContext, ToolResult
from tools.errors import ToolError, ToolFailure, TransientToolError
from tools.store.db import StoreDatabase
from tools.store.models import AppliedAction, Customer, Order, PaymentMethod

IDENTIFY_FIRST = (
    "The customer is not identified yet. Ask for the email address on their account, "
    "or their first name, last name and zip code, and look them up first."
)
TOKEN_REUSED = "This confirmation belongs to a different request; nothing was changed."


def normalize_order_id(raw: str) -> str:
    """'w1001003', 'W1001003' and '#W1001003' all name order #W1001003."""
    cleaned = raw.strip().upper()
    return cleaned if cleaned.startswith("#") else f"#{cleaned}"


def normalize_email(raw: str) -> str:
    return raw.strip().lower()  # stored lower-case


def fold(text: str) -> str:
    """Case- and accent-insensitive form of a name: 'Zoë' matches 'zoe', as in τ-bench."""
    decomposed = unicodedata.normalize("NFKD", text.strip())
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch)).casefold()


def not_found(kind: str, ident: str) -> ToolFailure:
    # One wording for "absent" and "someone else's": the difference must not be observable.
    return ToolFailure("not_found", f"{kind} {ident} was not found.")


def customer_of(ctx: ToolContext) -> str:
    if ctx.customer_id is None:
        raise ToolFailure("forbidden", IDENTIFY_FIRST)
    return ctx.customer_id


@contextmanager
def transient_errors() -> Iterator[None]:
    """A lost connection or a serialization failure is worth retrying; anything else is not."""
    try:
        yield
    except ToolError:
        raise
    except Exception as exc:
        if is_transient(exc):
            raise TransientToolError(f"store database: {exc}") from exc
        raise


@dataclass
class Scope:
    """One session acting for one customer. `applying` is False while previewing: nothing is locked."""

    session: AsyncSession
    customer_id: str
    applying: bool = False
    _methods: dict[str, PaymentMethod] | None = field(default=None, repr=False)

    async def order(self, order_id: str) -> Order:
        query = select(Order).where(Order.id == order_id, Order.customer_id == self.customer_id)
        if self.applying:
            query = query.with_for_update(of=Order)  # concurrent writes to one order queue up
        found = (await self.session.scalars(query)).first()
        if found is None:
            raise not_found("Order", order_id)
        return found

    async def customer(self) -> Customer:
        """The customer with payment methods and order ids (not the orders' contents)."""
        query = (
            select(Customer)
            .where(Customer.id == self.customer_id)
            .options(
                selectinload(Customer.payment_methods),
                selectinload(Customer.orders).options(load_only(Order.id, Order.position), raiseload("*")),
            )
        )
        if self.applying:
            query = query.with_for_update(of=Customer)
        found = (await self.session.scalars(query)).first()
        if found is None:
            raise not_found("User", self.customer_id)
        return found

    async def payment_methods(self) -> dict[str, PaymentMethod]:
        if self._methods is None:
            mine = PaymentMethod.customer_id == self.customer_id
            query = select(PaymentMethod).where(mine).order_by(PaymentMethod.id)
            if self.applying:
                query = query.with_for_update()  # gift-card balances change under this lock
            self._methods = {pm.id: pm for pm in await self.session.scalars(query)}
        return self._methods

    async def payment_method(self, payment_method_id: str) -> PaymentMethod:
        found = (await self.payment_methods()).get(payment_method_id)
        if found is None:
            raise not_found("Payment method", payment_method_id)
        return found


@dataclass(frozen=True)
class Change:
    """What a write does: the confirmation card's lines, the resulting document, and the reply once applied."""

    summary: list[str]
    document: dict[str, Any]
    message: str


Rule = Callable[[Scope], Awaitable[Change]]


class StoreAccess:
    def __init__(self, db: StoreDatabase) -> None:
        self.db = db

    @asynccontextmanager
    async def catalog(self) -> AsyncIterator[AsyncSession]:
        """A read session open to anyone (products), with transient errors made retryable."""
        with transient_errors():
            async with self.db.read() as session:
                yield session

    @asynccontextmanager
    async def reading(self, ctx: ToolContext) -> AsyncIterator[Scope]:
        """A read session on the identified customer's records."""
        customer_id = customer_of(ctx)
        async with self.catalog() as session:
            yield Scope(session, customer_id)

    async def write(self, ctx: ToolContext, tool: str, arguments: dict[str, Any], rule: Rule) -> ToolResult:
        """Preview `rule` (no token) or apply it exactly once per confirmation token."""
        customer_id = customer_of(ctx)
        token = ctx.confirmation
        with transient_errors():
            if token is None:
                return await self._preview(customer_id, rule)
            stored = await self._stored(token, tool, customer_id, arguments)
            if stored is not None:
                return stored
            try:
                return await self._apply(token, tool, customer_id, arguments, rule)
            except IntegrityError:
                # Another request holding the same token committed first: answer with its result.
                stored = await self._stored(token, tool, customer_id, arguments)
                if stored is None:
                    raise
                return stored

    async def _preview(self, customer_id: str, rule: Rule) -> ToolResult:
        async with self.db.read() as session:
            with session.no_autoflush:  # computed in memory, rolled back unseen
                change = await rule(Scope(session, customer_id))
        return ToolResult.needs_confirmation(change.summary, preview=change.document)

    async def _apply(
        self, token: str, tool: str, customer_id: str, arguments: dict[str, Any], rule: Rule
    ) -> ToolResult:
        async with self.db.session() as session:
            # Claim the token before reading anything: a second claimant waits here, then fails on
            # the primary key, and on SQLite this also takes the write lock so our reads stay current.
            action = AppliedAction(
                token=token, tool=tool, customer_id=customer_id, arguments=arguments, result={},
                applied_at=utcnow(),
            )  # fmt: skip
            session.add(action)
            await session.flush()
            change = await rule(Scope(session, customer_id, applying=True))
            action.result = {"data": change.document, "message": change.message}
        return ToolResult.success(change.document, change.message)

    async def _stored(self, token: str, tool: str, customer_id: str, arguments: dict[str, Any]) -> ToolResult | None:
        async with self.db.read() as session:
            action = await session.get(AppliedAction, token)
            if action is None:
                return None
            if (action.tool, action.customer_id, action.arguments) != (tool, customer_id, arguments):
                raise ToolFailure("invalid", TOKEN_REUSED)
            return ToolResult.success(action.result["data"], action.result["message"])
