"""The scale-out topology run for real (#13): nginx with sticky sessions in front of two app instances that
share a Redis, a PostgreSQL schema and a Chroma server (tests/loopback_cluster.py, the same parts as
compose.yaml).

A customer's browser goes through nginx only. Mid-conversation, with a question of the assistant open,
the instance that holds the session is killed (SIGKILL: no shutdown hook runs). The page's socket.io client
reconnects through nginx to the other instance, and the conversation goes on where it was: the answer to
the open question completes the request, and the thread in the database holds every message.
"""

from __future__ import annotations

import re
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import asyncpg
import pytest

from tests.browser_fixtures import (  # noqa: F401  (browser and page are fixtures)
    browser,
    diagnostics,
    open_chat,
    page,
    reply,
    send,
)
from tests.chainlit_server import DEMO_PASSWORD
from tests.conftest import require
from tests.loopback_cluster import NGINX, REDIS_SERVER, ClusterStartError, LoopbackCluster, loopback_cluster
from tests.postgres import PG_URL, dsn, require_postgres, run_sync

pytestmark = [pytest.mark.server, pytest.mark.browser]

RECONNECT_TIMEOUT_MS = 60_000
TURN_END_TIMEOUT_S = 60.0  # a turn's facts follow its reply within a second; this only bounds a failing test


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LoopbackCluster]:
    require(Path(NGINX).exists(), f"nginx is not installed at {NGINX} (apt-get install nginx)")
    require(Path(REDIS_SERVER).exists(), f"redis-server is not installed at {REDIS_SERVER} (apt-get install redis)")
    require_postgres()
    try:
        with loopback_cluster(tmp_path_factory.mktemp("loopback"), extra={"AUTH_DEMO_PASSWORD": DEMO_PASSWORD}) as c:
            yield c
    except ClusterStartError as exc:
        pytest.fail(str(exc), pytrace=False)


@pytest.fixture
def chainlit_server(cluster: LoopbackCluster) -> SimpleNamespace:
    """What the page fixtures need of a server: the address the customer opens, here nginx's."""
    return SimpleNamespace(base_url=cluster.url)


def test_the_customer_resumes_on_the_other_instance_when_theirs_dies(page, cluster, chainlit_server,
                                                                    tmp_path: Path) -> None:
    with diagnostics(page, tmp_path, SimpleNamespace(log_tail=cluster.logs)):  # both instances' and nginx's logs
        _resume_on_the_survivor(page, cluster, chainlit_server)

    # Nothing was lost: one thread holds both messages, each with its reply, and the store took the return.
    steps = run_sync(_steps(cluster.schema))
    threads = {thread for thread, kind, text in steps if kind == "user_message"}
    assert len(threads) == 1, steps
    said = [text for _, kind, text in steps if kind == "user_message"]
    assert said == ["I want to return the headphones", "to my gift card please"], steps
    replies = [text for _, kind, text in steps if kind == "assistant_message"]
    assert any("Where should the refund go" in t for t in replies) and any("is requested" in t for t in replies), steps
    assert run_sync(_order_status(cluster.schema, "#W1001001")) == "return requested"


def _resume_on_the_survivor(page, cluster: LoopbackCluster, chainlit_server: SimpleNamespace) -> None:
    from playwright.sync_api import expect

    chat_input, socket_log = open_chat(page, chainlit_server)
    send(page, chat_input, "I want to return the headphones")
    question = reply(page, "Where should the refund go")
    expect(question).to_contain_text("#W1001001")
    # The kill comes between turns. Once the reply shows, the turn still writes it and saves the dialogue's state;
    # its facts are written last (agent/chat/service.py), so their row says the turn is over.
    _wait_for_the_turns_facts(cluster.schema, "I want to return the headphones")

    holder = cluster.serving()
    survivor = next(i for i in cluster.instances if i is not holder)
    mark = socket_log.mark()
    cluster.kill(holder)

    # The page reconnects by itself, through nginx, to the instance that is left.
    socket_log.wait_for(page, "task_end", since=mark, new_connection=True, timeout_ms=RECONNECT_TIMEOUT_MS)
    assert cluster.serving() is survivor, cluster.logs()

    send(page, chat_input, "to my gift card please")
    card = reply(page, "Please confirm this change")
    expect(card).to_contain_text("Return from order #W1001001")
    expect(card).to_contain_text("gift card")
    card.get_by_role("button", name="Confirm").click()
    reply(page, re.compile(r"return for order #W1001001 is requested"))
    earlier = page.locator('[data-step-type="user_message"]').filter(has_text="I want to return the headphones")
    expect(earlier).to_be_visible()


def test_the_public_address_hides_the_metrics_but_serves_health(cluster) -> None:
    with urllib.request.urlopen(f"{cluster.url}/health", timeout=10) as response:
        assert response.status == 200
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(f"{cluster.url}/metrics", timeout=10)
    assert refused.value.code == 403
    alive = next(i for i in cluster.instances if i.process.poll() is None)  # another test may have killed one
    with urllib.request.urlopen(f"{alive.base_url}/metrics", timeout=10) as response:
        assert b"support_turns" in response.read(), "each instance serves its own metrics to the scraper"


async def _steps(schema: str) -> list[tuple[str, str, str]]:
    """(thread, type, text) of every message step, oldest first."""
    connection = await asyncpg.connect(dsn(PG_URL))
    try:
        rows = await connection.fetch(
            f'SELECT thread_id, type, output FROM "{schema}".steps WHERE type LIKE $1 ORDER BY created_at', "%message")
    finally:
        await connection.close()
    return [(r["thread_id"], r["type"], r["output"] or "") for r in rows]


def _wait_for_the_turns_facts(schema: str, message: str) -> None:
    deadline = time.monotonic() + TURN_END_TIMEOUT_S
    while not run_sync(_turns_recorded(schema, message)):
        assert time.monotonic() < deadline, f"no facts recorded for {message!r} in {TURN_END_TIMEOUT_S} s"
        time.sleep(0.2)


async def _turns_recorded(schema: str, message: str) -> int:
    """Turns recorded in the facts of the thread where the customer wrote `message`."""
    connection = await asyncpg.connect(dsn(PG_URL))
    try:
        return await connection.fetchval(
            f'SELECT coalesce(sum(f.turns), 0) FROM "{schema}".conversation_facts f JOIN "{schema}".steps s '
            "ON s.thread_id = f.thread_id WHERE s.type = 'user_message' AND s.output = $1", message)
    finally:
        await connection.close()


async def _order_status(schema: str, order_id: str) -> str:
    connection = await asyncpg.connect(dsn(PG_URL))
    try:
        return await connection.fetchval(f'SELECT status FROM "{schema}".store_orders WHERE id = $1', order_id)
    finally:
        await connection.close()
