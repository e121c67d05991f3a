"""Which store customer a signed-in account is: the one with the same email."""

from __future__ import annotations

from sqlalchemy import func, select

from tools.store.db import StoreDatabase
from tools.store.models import Customer


class AccountDirectory:
    def __init__(self, db: StoreDatabase) -> None:
        self.db = db

    async def customer_for(self, identifier: str) -> str | None:
        """The customer id for a sign-in identifier (an email), or None for staff and unknown accounts."""
        async with self.db.read() as session:
            found = await session.scalar(select(Customer.id).where(func.lower(Customer.email) == identifier.lower()))
        return found
