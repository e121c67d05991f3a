"""Who calls the API, and for which customer.

- A browser or the shop's widget: `Authorization: Bearer <token>`, the token the customer's shop signed (HS256,
  AUTH_WIDGET_SECRET: the widget's token).
- A server: `Authorization: Bearer <API key>` (agent/api_keys.py) and, per call, `X-Customer-Token: <token>`
  naming the customer with the same shop-signed claim. The key says which client calls; the customer is never
  taken from a plain header.

The same rules as the page's sign-in: customers only (a token naming a staff account is refused), and the customer
becomes a user of the chat history, so a conversation started here is theirs in the Chainlit page and the
workspace too."""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import Request

from agent import api_keys
from agent.datalayer.store import ChatStore
from agent.settings import Settings
from agent.web.api.problems import ApiProblem
from agent.web.auth import bearer_token, widget_customer

CUSTOMER_HEADER = "x-customer-token"
NO_CUSTOMER = "An API key call names its customer: send the shop-signed token as `X-Customer-Token: <token>`."
BAD_KEY = "The API key is not valid or has been revoked."
NO_TOKEN = "Sign in: send the token your shop signed for this customer as `Authorization: Bearer <token>`."
BAD_TOKEN = "The token is not valid, has expired, or names an account that cannot use the API."
CHALLENGE = {"WWW-Authenticate": 'Bearer realm="larkspur-support"'}


@dataclass(frozen=True)
class ApiCaller:
    identifier: str  # the sign-in identifier (the customer's email at the shop)
    name: str
    user_id: str  # users.id in the chat history: the owner of their conversations


def bearer(request: Request) -> str:
    if not (token := bearer_token(request.headers)):
        raise ApiProblem(401, NO_TOKEN, headers=CHALLENGE)
    return token


def caller_dependency(settings: Settings, history: ChatStore):  # noqa: ANN201 - a FastAPI dependency
    async def caller(request: Request) -> ApiCaller:
        token = bearer(request)
        if api_keys.is_api_key(token):
            if await history.transaction("api_key", None, lambda conn: api_keys.client_of(conn, token)) is None:
                raise ApiProblem(401, BAD_KEY, headers=CHALLENGE)
            token = request.headers.get(CUSTOMER_HEADER, "")
            if not token:
                raise ApiProblem(401, NO_CUSTOMER, headers=CHALLENGE)
        customer = await widget_customer(token, settings, history)
        if customer is None:
            raise ApiProblem(401, BAD_TOKEN, headers=CHALLENGE)
        user = await history.user_row(customer.identifier)  # a read per request; written only when new or changed
        meta = {"customer_id": customer.customer_id, "via": "api"}
        if user is None or any((user.get("metadata") or {}).get(k) != v for k, v in meta.items()) or (
                customer.display_name and user.get("display_name") != customer.display_name):
            user = await history.ensure_user(customer.identifier, customer.display_name, meta)
        name = customer.display_name or user.get("display_name") or customer.identifier
        return ApiCaller(customer.identifier, name, user["id"])

    return caller
