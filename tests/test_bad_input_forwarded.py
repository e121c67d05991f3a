"""The sign-in limit counts the connecting address: X-Forwarded-For is believed only from AUTH_TRUSTED_PROXIES.

uvicorn believes it from 127.0.0.1 by default, so a client on loopback that sent a new X-Forwarded-For with each
attempt escaped the limit. Two real servers (empty help centre, fast start): the default, which trusts nobody's
header, and one behind a "proxy" on 127.0.0.1 (as nginx on the same host), which counts the forwarded client.
"""

from __future__ import annotations

import json
import urllib.parse
import urllib.request
from collections.abc import Iterator

import pytest

from tests.chainlit_server import ChainlitServer, _request, server_without_docs

BURST = 5
LIMITS = {"AUTH_LOGIN_BURST": str(BURST), "AUTH_LOGIN_ATTEMPTS_PER_MINUTE": "1"}  # no attempt earned back mid-test


@pytest.fixture(scope="module")
def default_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ChainlitServer]:
    yield from server_without_docs(tmp_path_factory, "forwarded-default", env=LIMITS)


@pytest.fixture(scope="module")
def proxied_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ChainlitServer]:
    yield from server_without_docs(tmp_path_factory, "forwarded-proxied",
                                   env={**LIMITS, "AUTH_TRUSTED_PROXIES": "127.0.0.1"})


def bad_sign_in(server: ChainlitServer, forwarded_for: str) -> tuple[int, str]:
    body = urllib.parse.urlencode({"username": "mallory@example.com", "password": "guess-guess"}).encode()
    request = urllib.request.Request(f"{server.base_url}/login", data=body, method="POST", headers={
        "Content-Type": "application/x-www-form-urlencoded", "X-Forwarded-For": forwarded_for})
    status, _, text = _request(request, 30.0)
    return status, text


def test_a_new_forwarded_address_per_attempt_does_not_escape_the_limit(default_server: ChainlitServer) -> None:
    for attempt in range(BURST):
        status, text = bad_sign_in(default_server, f"203.0.113.{attempt + 1}")
        assert status == 401, f"attempt {attempt + 1} answered {status}: {text[:300]}\n{default_server.log_tail()}"
    status, text = bad_sign_in(default_server, "203.0.113.99")
    assert status == 429, f"the 6th attempt, from yet another forwarded address, answered {status}: {text[:300]}"
    assert "Too many sign-in attempts" in json.loads(text)["detail"]


def test_behind_a_listed_proxy_each_forwarded_client_has_its_own_limit(proxied_server: ChainlitServer) -> None:
    for attempt in range(BURST):
        status, text = bad_sign_in(proxied_server, "198.51.100.7")
        assert status == 401, f"attempt {attempt + 1} answered {status}: {text[:300]}\n{proxied_server.log_tail()}"
    status, _ = bad_sign_in(proxied_server, "198.51.100.7")
    assert status == 429, "the forwarded client's own sixth attempt is refused"
    status, text = bad_sign_in(proxied_server, "198.51.100.8")
    assert status == 401, f"another customer behind the same proxy was refused too ({status}): {text[:300]}"
