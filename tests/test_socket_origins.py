"""Which origins may open the chat socket (agent/web/origins.py); the refusal itself is tested on a real server
in tests/test_bad_input_server.py."""

from __future__ import annotations

import pytest

from agent.web.origins import SocketOrigins


async def _inner(scope, receive, send):  # the app behind the guard
    raise AssertionError("unreachable")


@pytest.mark.parametrize(("origin", "host", "allowed"), [
    ("http://127.0.0.1:8000", "127.0.0.1:8000", True),
    ("http://127.0.0.1:8000", "127.0.0.1", True),  # behind nginx, whose $host drops the port
    ("https://support.example.com", "support.example.com", True),
    ("http://127.0.0.1:9999", "127.0.0.1:8000", False),  # another port is another origin
    ("https://support.example.com.evil.io", "support.example.com", False),
    ("null", "support.example.com", False),  # a sandboxed frame or a file:// page
    ("https://shop.example.com", "support.example.com", True),  # the widget's shop, in allow_origins
    ("https://shop.example.com/", "support.example.com", True),
])
def test_own_and_listed_origins_only(origin, host, allowed):
    guard = SocketOrigins(_inner, "/ws/socket.io", lambda: ["https://shop.example.com"])
    assert guard.permits(origin, host) is allowed


def test_a_star_in_allow_origins_allows_every_origin():
    assert SocketOrigins(_inner, "/ws/socket.io", lambda: ["*"]).permits("https://anywhere.example", "x")
