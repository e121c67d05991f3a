"""The real `chainlit run app.py` process: the analytics page, /workspace/analytics (agent/web/analytics.py).

Facts are written straight into the server's SQLite database (tests/test_analytics.py's `Facts` helper) in
January 2024, a range no other test of this module writes to, so the page's numbers are known exactly. The
content gaps are grouped by the server's own MiniLM embedder. plotly.js comes from the server itself, never a
CDN, and the page's one inline script carries the nonce its Content-Security-Policy names, fresh each time.
"""

from __future__ import annotations

import gzip
import re
import urllib.request
from collections.abc import Iterator
from datetime import datetime, timedelta

import plotly
import pytest

from agent.datalayer.store import ChatStore
from tests.browser_fixtures import browser, diagnostics, page  # noqa: F401  (browser and page are fixtures)
from tests.app_server_fixtures import (  # noqa: F401  (the sign-ins are fixtures; chainlit_server is ours below)
    AUTH_COOKIE,
    CUSTOMER,
    LEAD,
    ChainlitServer,
    dana_sign_in,
    dana_token,
    lead_token,
)
from tests.chainlit_server import server_without_docs
from tests.postgres import run_sync
from tests.test_analytics import MINUTE, Facts
from tests.test_app_server_sharing import _with_store

pytestmark = pytest.mark.server

RANGE = "/workspace/analytics?from=2024-01-01&to=2024-01-31"
PLOTLY_PATH = f"/workspace/static/plotly.min.js?v={plotly.__version__}"
PAYPAL = ("can I pay with PayPal", "do you take paypal", "paypal accepted?")
ICELAND = "do you ship to Iceland"


@pytest.fixture(scope="module")
def chainlit_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ChainlitServer]:
    """This module's server, with no help centre (a fast start)."""
    yield from server_without_docs(tmp_path_factory, "chainlit-analytics")


@pytest.fixture(scope="module")
def january(chainlit_server: ChainlitServer) -> Facts:
    """Two customer conversations and a lead's own one in January 2024, with four content-gap questions."""

    async def write(store: ChatStore) -> Facts:
        f = Facts(store)
        f.users = {"dana": (await store.user_row(CUSTOMER))["id"], "lead": (await store.user_row(LEAD))["id"]}
        start = datetime(2024, 1, 10, 9)
        await f.conversation("resolved", "dana", start, answered=MINUTE, first_response_ms=500, last_rating=1,
                             items=(("intent", "returns", 1, 0), ("tool", "order_status", 2, 1)))
        await f.conversation("escalated", "dana", start + timedelta(days=1), answered=MINUTE, first_response_ms=1500,
                             turns=3, last_rating=0, ticket_id="T-42", ticket_status="open", outcome="escalated")
        await f.conversation("own", "lead", start, answered=MINUTE, turns=40, ticket_id="T-43", last_rating=0)
        for n, question in enumerate(PAYPAL):
            await f.gap("resolved" if n else "escalated", "missed", question, start + n * MINUTE)
        await f.gap("escalated", "handed_over", ICELAND, start + timedelta(days=1))
        await f.gap("own", "missed", "a lead testing the paypal answer", start)
        return f

    return run_sync(_with_store(chainlit_server, write))  # its own loop: Playwright's may be running here


def _get(server: ChainlitServer, path: str, token: str | None, **headers: str) -> tuple[int, dict[str, str], bytes]:
    request = urllib.request.Request(f"{server.base_url}{path}", headers=headers)
    if token:
        request.add_header("Cookie", f"{AUTH_COOKIE}={token}")
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, {k.lower(): v for k, v in response.headers.items()}, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, {k.lower(): v for k, v in exc.headers.items()}, exc.read()


def _metric(body: str, name: str) -> str:
    found = re.search(rf'data-metric="{name}">([^<]*)<', body)
    assert found, f"no {name} tile in the page"
    return found.group(1)


def test_the_lead_sees_the_numbers_charts_and_content_gaps(
    chainlit_server: ChainlitServer, lead_token: str, january: Facts
) -> None:
    status, headers, raw = _get(chainlit_server, RANGE, lead_token)
    body = raw.decode()
    assert status == 200, f"{status}: {body[:500]}\n{chainlit_server.log_tail()}"
    assert headers["content-type"].startswith("text/html") and headers["cache-control"] == "private, no-store"

    numbers = {name: _metric(body, name) for name in (
        "conversations", "customer_messages", "answered", "resolved", "pending", "resolution_rate",
        "escalation_rate", "csat", "rating_response_rate", "first_response_p50", "first_response_p90",
        "cards_shown")}  # fmt: skip
    assert numbers == {"conversations": "2", "customer_messages": "4", "answered": "2", "resolved": "1",
                       "pending": "0", "resolution_rate": "50.0 %", "escalation_rate": "50.0 %", "csat": "50.0 %",
                       "rating_response_rate": "100.0 %", "first_response_p50": "500 ms",
                       "first_response_p90": "1.5 s", "cards_shown": "0"}, "the lead's own chat counted?"  # fmt: skip
    assert re.search(r"<td>order_status</td><td class=\"num\">2</td><td class=\"num\">1</td>"
                     r"<td class=\"num\">50.0 %</td>", body), "the tools table"

    gaps = body[body.index('id="gaps"'):]
    assert re.findall(r'data-metric="gap_size">(\d+)<', gaps) == ["3", "1"], gaps[:2000]
    assert all(question in gaps for question in (*PAYPAL, ICELAND)) and "a lead testing" not in gaps
    assert f'href="/share/{january.threads["escalated"]}"' in gaps

    assert 'href="/workspace/analytics" aria-current="page"' in body and 'href="/workspace/tickets"' in body
    for chart in ("chart-volume", "chart-outcomes", "chart-ratings", "chart-intents", "chart-tools", "chart-cards"):
        assert f'data-chart="{chart}"' in body, chart
    assert "https://" not in re.sub(r'<script type="application/json".*?</script>', "", body, flags=re.S)


def test_scripts_carry_a_fresh_nonce_and_plotly_comes_from_here(chainlit_server: ChainlitServer, lead_token: str
                                                                ) -> None:
    nonces = []
    for _ in range(2):
        status, headers, raw = _get(chainlit_server, "/workspace/analytics", lead_token)  # the last 30 days
        body = raw.decode()
        assert status == 200, body[:500]
        csp = headers["content-security-policy"]
        nonce = re.search(r"script-src 'self' 'nonce-([A-Za-z0-9_-]{20,})'", csp).group(1)
        assert "default-src 'none'" in csp and "unsafe-eval" not in csp and "unsafe-inline'" not in csp.split(
            "script-src")[1].split(";")[0]
        scripts = re.findall(r"<script(?![^>]*application/json)([^>]*)>", body)
        assert scripts == [f' src="{PLOTLY_PATH}" nonce="{nonce}"', f' nonce="{nonce}"'], scripts
        nonces.append(nonce)
    assert nonces[0] != nonces[1]

    status, headers, raw = _get(chainlit_server, PLOTLY_PATH, lead_token)
    assert status == 200 and headers["content-type"].startswith("text/javascript"), (status, headers)
    assert "immutable" in headers["cache-control"] and len(raw) > 1_000_000 and b"plotly.js" in raw[:500]
    status, headers, packed = _get(chainlit_server, PLOTLY_PATH, lead_token, **{"Accept-Encoding": "gzip"})
    assert status == 200 and headers.get("content-encoding") == "gzip" and gzip.decompress(packed) == raw


def test_a_bad_range_is_a_clear_400(chainlit_server: ChainlitServer, lead_token: str) -> None:
    for query in ("from=31-01-2024", "from=2024-02-01&to=2024-01-01", "from=2000-01-01&to=2024-01-01"):
        status, _, raw = _get(chainlit_server, f"/workspace/analytics?{query}", lead_token)
        assert status == 400 and 'role="alert"' in raw.decode(), f"{query}: {status} {raw[:300]!r}"


def test_customers_and_anonymous_visitors_get_404(chainlit_server: ChainlitServer, dana_token: str) -> None:
    for who, token in (("dana, a customer", dana_token), ("an anonymous visitor", None), ("a bad cookie", "x")):
        for path in (RANGE, "/workspace/analytics", PLOTLY_PATH):
            status, _, raw = _get(chainlit_server, path, token)
            assert status == 404, f"{who} got {status} from {path}: {raw[:200]!r}"
            assert b"Analytics" not in raw and b"plotly" not in raw.lower()


CHARTS = ("chart-volume", "chart-outcomes", "chart-ratings", "chart-intents", "chart-tools", "chart-cards")


@pytest.mark.browser
def test_the_charts_draw_in_a_browser_under_the_pages_policy(
    page, tmp_path, chainlit_server: ChainlitServer, lead_token: str, january: Facts
) -> None:
    """plotly.js runs under the page's CSP (no eval, no inline script but the nonce'd one) and draws each chart."""
    problems: list[str] = []
    page.on("console", lambda msg: problems.append(msg.text) if msg.type == "error" else None)
    page.on("pageerror", lambda exc: problems.append(str(exc)))
    page.context.add_cookies([{"name": AUTH_COOKIE, "value": lead_token, "url": chainlit_server.base_url}])
    with diagnostics(page, tmp_path, chainlit_server):
        page.goto(chainlit_server.base_url + RANGE)
        for chart in CHARTS:
            page.wait_for_selector(f"#{chart} svg.main-svg", state="attached")
        assert page.locator("#chart-volume .bars path").count() > 0, "the daily bars were not drawn"
        assert problems == [], problems
