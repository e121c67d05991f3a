"""The assistant inside a shop's own pages: Chainlit's copilot widget, its customer signed in by the shop.

The copilot signs in with its `accessToken` by POST /auth/jwt (`Authorization: Bearer <token>`), a route where
Chainlit accepts only its own session tokens. `widget_routes` answers that route first: a token the shop signed
(AUTH_WIDGET_SECRET, see agent.web.auth.verify_shop_token) signs its customer in with Chainlit's own cookie and
response; any other token goes on to Chainlit's handler. The copilot shows a refusal's `detail` in place of the
chat, so refusals say in a sentence what the customer can do.
"""

from __future__ import annotations

import chainlit as cl
from chainlit import server as chainlit_server
from chainlit.config import config
from fastapi import APIRouter, HTTPException, Request, Response
from starlette.status import HTTP_401_UNAUTHORIZED

from agent.datalayer.store import ChatStore
from agent.settings import Settings
from agent.web.auth import ShopCustomer, bearer_token, widget_customer

SIGN_IN_REFUSED = "Your sign-in from the shop has expired or is not valid. Reload the page to sign in again."


def widget_on(settings: Settings) -> bool:
    return settings.auth.enabled and bool(settings.auth.widget_secret.get_secret_value())


def widget_user(customer: ShopCustomer) -> cl.User:
    # Widget customers are always customers, whatever the token says about roles.
    return cl.User(identifier=customer.identifier, display_name=customer.display_name,
                   metadata={"role": "customer", "customer_id": customer.customer_id, "via": "widget"})


def widget_routes(settings: Settings, history: ChatStore) -> APIRouter:
    """POST /auth/jwt for shop-signed tokens in front of Chainlit's (nothing when widget sign-in is off)."""
    router = APIRouter()
    if not widget_on(settings):
        return router

    @router.post("/auth/jwt")
    async def jwt_auth(request: Request) -> Response:
        # None for a bad token, and for one naming a staff account (Chainlit would sign in as that account).
        customer = await widget_customer(bearer_token(request.headers), settings, history)
        if customer is not None:
            return await chainlit_server._authenticate_user(request, widget_user(customer))
        try:
            return await chainlit_server.jwt_auth(request)  # a session token Chainlit signed itself
        except HTTPException as exc:
            # Chainlit's "Invalid token" would be all the customer reads.
            if exc.status_code == HTTP_401_UNAUTHORIZED:
                raise HTTPException(HTTP_401_UNAUTHORIZED, detail=SIGN_IN_REFUSED) from exc
            raise

    return router


def allow_shop_origin(settings: Settings) -> None:
    """Let the shop's page (AUTH_WIDGET_ORIGIN) call the app from the browser, beside config.toml's origins.

    Chainlit gave its CORS middleware the list `config.project.allow_origins` itself when chainlit.server was
    imported (before app.py), and Starlette keeps that list and reads it on every request: so it is extended in
    place, not replaced. The socket checks the same list (`agent.web.origins`): python-socketio's own is off.
    """
    origin = settings.auth.widget_origin.rstrip("/")
    if widget_on(settings) and origin and origin not in config.project.allow_origins:
        config.project.allow_origins.append(origin)
