"""An example shop's backend: serves its product page and signs its signed-in customer's widget token.

A real shop already knows who is signed in; this one always signs for one demo customer (SHOP_CUSTOMER_*).
The token is what the assistant checks (agent.web.auth.verify_shop_token): HS256 with the secret both sides
share, short-lived, for the assistant's audience. Run: .venv/bin/python examples/shop/server.py
"""

from __future__ import annotations

import json
import os
import time
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import jwt

STATIC = Path(__file__).resolve().parent / "static"
WIDGET_CONFIG_PATH = "/widget-config"


def setting(name: str, default: str) -> str:
    return os.environ.get(name, default)


HOST = setting("SHOP_HOST", "127.0.0.1")
PORT = int(setting("SHOP_PORT", "8080"))
APP_URL = setting("SHOP_APP_URL", "http://127.0.0.1:8000").rstrip("/")
SECRET = setting("SHOP_WIDGET_SECRET", "")  # the assistant's AUTH_WIDGET_SECRET
AUDIENCE = setting("SHOP_WIDGET_AUDIENCE", "larkspur-support")  # the assistant's AUTH_WIDGET_AUDIENCE
TOKEN_LIFETIME_S = int(setting("SHOP_TOKEN_LIFETIME_S", "300"))  # the page asks for a new one when reloaded
CUSTOMER_ID = setting("SHOP_CUSTOMER_ID", "dana_whitfield_1001")
CUSTOMER_EMAIL = setting("SHOP_CUSTOMER_EMAIL", "dana@example.com")
CUSTOMER_NAME = setting("SHOP_CUSTOMER_NAME", "Dana Whitfield")

# The app's theme names its own (empty) font stylesheet, so the copilot adds no Google Fonts; as a second line,
# styles and fonts may come only from here and from the assistant (its styles are inline): no CDN.
CONTENT_SECURITY_POLICY = f"style-src 'self' 'unsafe-inline' {APP_URL}; font-src 'self' data: {APP_URL}"


def widget_token() -> str:
    now = int(time.time())
    claims = {"sub": CUSTOMER_ID, "email": CUSTOMER_EMAIL, "name": CUSTOMER_NAME, "aud": AUDIENCE,
              "iat": now, "exp": now + TOKEN_LIFETIME_S}
    return jwt.encode(claims, SECRET, algorithm="HS256")


class ShopHandler(SimpleHTTPRequestHandler):
    def do_GET(self) -> None:
        if self.path != WIDGET_CONFIG_PATH:
            return super().do_GET()
        body = json.dumps({"chainlitServer": APP_URL, "accessToken": widget_token()}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Cache-Control", "no-store")  # a token is for this page load only
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def end_headers(self) -> None:
        self.send_header("Content-Security-Policy", CONTENT_SECURITY_POLICY)
        super().end_headers()


def main() -> None:
    if not SECRET:
        raise SystemExit("Set SHOP_WIDGET_SECRET to the assistant's AUTH_WIDGET_SECRET.")
    server = ThreadingHTTPServer((HOST, PORT), partial(ShopHandler, directory=str(STATIC)))
    print(f"The shop is at http://{HOST}:{PORT}/ (assistant: {APP_URL})", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
