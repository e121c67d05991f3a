"""Who calls the API: a customer, named by a token their shop signed (the widget's HS256 token, AUTH_WIDGET_SECRET),
sent as `Authorization: Bearer <token>`. The same rules as the page's sign-in: customers only (a token naming a
staff account is refused), and the customer becomes a user of the chat history, so a conversation started here
is theirs in the Chainlit page and the workspace too."""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import Request

from agent.datalayer.store import ChatStore
from agent.settings import Settings
from agent.web.api.problems import ApiProblem
from agent.web.auth import widget_customer

NO_TOKEN = "Sign in: send the token your shop signed for this customer as `Authorization: Bearer <token>`."
BAD_TOKEN = "The token is not valid, has expired, or names an account that cannot use the API."
CHALLENGE = {"WWW-Authenticate": 'Bearer realm="larkspur-support"'}


@dataclass(frozen=True)
class ApiCaller:
    identifier: str  # the sign-in identifier (the customer's email at the shop)
    name: str
    user_id: str  # users.id in the chat history: the owner of their conversations


def bearer(request: Request) -> str:
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise ApiProblem(401, NO_TOKEN, headers=CHALLENGE)
    return token.strip()


def caller_dependency(settings: Settings, history: ChatStore):  # noqa: ANN201 - a FastAPI dependency
    async def caller(request: Request) -> ApiCaller:
        customer = await widget_customer(bearer(request), settings, history)
        if customer is None:
            raise ApiProblem(401, BAD_TOKEN, headers=CHALLENGE)
        user = await history.ensure_user(customer.identifier, customer.display_name,
                                         {"customer_id": customer.customer_id, "via": "api"})  # fmt: skip
        name = customer.display_name or user.get("display_name") or customer.identifier
        return ApiCaller(customer.identifier, name, user["id"])

    return caller
