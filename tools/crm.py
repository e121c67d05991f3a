"""Customer records: finding who the customer is, their details, and their default address."""

from __future__ import annotations

from sqlalchemy import select

from tools.base import Tool, ToolContext, ToolResult, tool
from tools.errors import ToolFailure
from tools.store import shapes
from tools.store.access import Change, Scope, StoreAccess, fold, not_found
from tools.store.models import Customer
from tools.store.params import Address1, Address2, City, Country, Email, FirstName, LastName, State, UserId, Zip
from tools.store.rules import readdress

NO_MATCH = "No customer account matches these details."
SIGNED_IN_ELSEWHERE = (
    "This signed-in account has no customer record, and a signed-in account cannot act for another "
    "customer. Offer to hand the conversation to a colleague."
)
SEVERAL_MATCHES = (
    "Several customer accounts match this name and zip code; ask for the email address on the account instead."
)


def _found(ctx: ToolContext, matches: list[str]) -> ToolResult:
    """Identify the conversation's customer; once identified, only that same customer can be found again.

    Signed-in conversations act for the account's own customer record only: a signed-in account
    without one (staff, a new account) must not find, and so bind, anyone else's.
    """
    if ctx.user_id is not None and ctx.customer_id is None:
        raise ToolFailure("forbidden", SIGNED_IN_ELSEWHERE)
    if ctx.customer_id is not None:
        matches = [user_id for user_id in matches if user_id == ctx.customer_id]
    if not matches:
        raise ToolFailure("not_found", NO_MATCH)  # someone else's account reads as no account
    if len(matches) > 1:
        raise ToolFailure("invalid", SEVERAL_MATCHES)
    user_id = matches[0]
    return ToolResult(ok=True, data=user_id, message=f"The customer is identified as {user_id}.", identified=user_id)


def crm_tools(access: StoreAccess) -> list[Tool]:
    @tool(backend="store", identifies=True)
    async def find_user_id_by_email(ctx: ToolContext, email: Email) -> ToolResult:
        """Find a user id by email, which identifies the customer this conversation acts for.

        By default, find the user id by email; only use the name and zip lookup if the email is unknown.
        """
        async with access.catalog() as session:
            matches = list(await session.scalars(select(Customer.id).where(Customer.email == email)))
        return _found(ctx, matches)

    @tool(backend="store", identifies=True)
    async def find_user_id_by_name_zip(
        ctx: ToolContext, first_name: FirstName, last_name: LastName, zip: Zip
    ) -> ToolResult:
        """Find a user id by first name, last name and zip code, which identifies the customer.

        Only use this if the customer cannot give the email on their account.
        """
        async with access.catalog() as session:
            rows = (await session.execute(
                select(Customer.id, Customer.first_name, Customer.last_name)
                .where(Customer.zip == zip.strip())
                .order_by(Customer.id)
            )).all()  # fmt: skip
        wanted = (fold(first_name), fold(last_name))
        return _found(ctx, [row.id for row in rows if (fold(row.first_name), fold(row.last_name)) == wanted])

    @tool(backend="store")
    async def get_user_details(ctx: ToolContext, user_id: UserId) -> ToolResult:
        """Get the details of the identified customer: name, address, email, payment methods and order ids."""
        async with access.reading(ctx) as scope:
            if user_id != scope.customer_id:
                raise not_found("User", user_id)
            return ToolResult.success(shapes.customer(await scope.customer()))

    @tool(backend="store", writes=True, acts_on="user_id")
    async def modify_user_address(
        ctx: ToolContext, user_id: UserId, address1: Address1, address2: Address2, city: City, state: State,
        country: Country, zip: Zip,
    ) -> ToolResult:  # fmt: skip
        """Change the default address of the identified customer. Needs the customer's confirmation."""
        fields = dict(address1=address1, address2=address2, city=city, state=state, country=country, zip=zip)

        async def rule(scope: Scope) -> Change:
            if user_id != scope.customer_id:
                raise not_found("User", user_id)
            customer = await scope.customer()
            before, after = readdress(customer, fields)
            return Change(
                summary=[f"Change the default address of {user_id}.", f"Current address: {before}.",
                         f"New address: {after}."],
                document=shapes.customer(customer),
                message=f"Your default address is now {after}.",
            )

        arguments = {"user_id": user_id, **fields}
        return await access.write(ctx, "modify_user_address", arguments, rule)

    return [find_user_id_by_email, find_user_id_by_name_zip, get_user_details, modify_user_address]
