"""Live hand-over across instances: the customer's chat is on instance A, the lead's page on instance B; the two
share only Redis (the relay's pub/sub, under a prefix of this test's own) and PostgreSQL (a private schema).
The same exchange as tests/test_browser_handover.py: ask for a person, take over, reply both ways, hand back.
"""

from __future__ import annotations

import contextlib
import secrets
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.browser_fixtures import browser, diagnostics, open_chat, reply, send  # noqa: F401  (browser is a fixture)
from tests.cluster import AppInstance, InstanceStartError, run_instance
from tests.conftest import require
from tests.handover_flow import (
    LEAD_NAME, ask_for_a_human, hand_back, lead_page, open_queue_ticket, take_over, write_as_lead,
)  # fmt: skip
from tests.postgres import PG_URL, private_schema, require_postgres
from tests.test_scale_out import REDIS_URL, _redis_reachable, delete_keys

pytestmark = [pytest.mark.browser, pytest.mark.server]
LIVE_WAIT_MS = 10_000


@pytest.fixture(scope="module")
def pair(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[AppInstance, AppInstance, str]]:
    error = _redis_reachable()
    require(error is None, f"Redis is not reachable at {REDIS_URL} ({error}); start it or set TEST_REDIS_URL")
    require_postgres()
    workdir = tmp_path_factory.mktemp("handover-pair")
    prefix = f"test:{uuid.uuid4().hex}:"
    password = "demo-" + secrets.token_urlsafe(12)
    try:
        with private_schema() as schema, contextlib.ExitStack() as instances:
            settings = {
                "SESSION_REDIS_URL": REDIS_URL, "SESSION_KEY_PREFIX": prefix,
                "DATABASE_URL": PG_URL, "DATABASE_SCHEMA_NAME": schema,
                "DATABASE_STORAGE_DIR": str(workdir / "files"),
                "AUTH_SECRET": secrets.token_urlsafe(48), "AUTH_DEMO_PASSWORD": password,
                "AUTH_DEMO_CONVERSATIONS": "false",
                "AUTH_LOGIN_BURST": "1000", "AUTH_LOGIN_ATTEMPTS_PER_MINUTE": "1000",
            }  # fmt: skip
            try:
                a = instances.enter_context(run_instance("A", workdir / "a", settings | {
                    "KNOWLEDGE_STORE_DIR": str(workdir / "a" / "chroma")}))  # fmt: skip
                b = instances.enter_context(run_instance("B", workdir / "b", settings | {
                    "KNOWLEDGE_STORE_DIR": str(workdir / "b" / "chroma")}))  # fmt: skip
            except InstanceStartError as exc:
                pytest.fail(str(exc), pytrace=False)
            yield a, b, password
    finally:
        delete_keys(prefix)


@pytest.fixture
def customer_page(browser, tmp_path: Path):  # noqa: F811
    context = browser.new_context(viewport={"width": 1400, "height": 900}, locale="en-US")
    page = context.new_page()
    try:
        yield page
    finally:
        context.close()


class Logs:
    """`diagnostics` wants one server's log tail: both instances'."""

    def __init__(self, *instances: AppInstance) -> None:
        self.instances = instances

    def log_tail(self) -> str:
        return "\n".join(instance.log_tail() for instance in self.instances)


def test_the_customer_on_one_instance_and_the_lead_on_the_other(pair, customer_page, browser, tmp_path: Path) -> None:  # noqa: F811
    from playwright.sync_api import expect

    a, b, password = pair
    page = customer_page
    with diagnostics(page, tmp_path, Logs(a, b)), lead_page(browser, b, tmp_path, password) as lead:
        chat_input, _ = open_chat(page, a, password)
        ticket_id = ask_for_a_human(page, chat_input)

        open_queue_ticket(lead, b.base_url, ticket_id)
        take_over(lead)
        expect(reply(page, f"{LEAD_NAME} from Larkspur Goods support has joined")).to_be_visible(timeout=LIVE_WAIT_MS)

        write_as_lead(lead, "Hello from instance B, Dana.")
        answer = page.locator('[data-step-type="assistant_message"]').filter(has_text="Hello from instance B, Dana.")
        expect(answer).to_be_visible(timeout=LIVE_WAIT_MS)

        send(page, chat_input, "Hello back from instance A.")
        expect(lead.locator("#chat li.customer").filter(has_text="Hello back from instance A.")).to_be_visible(
            timeout=LIVE_WAIT_MS)

        hand_back(lead)
        reply(page, f"{LEAD_NAME} has left; the assistant is back")
        send(page, chat_input, "How long does standard shipping take?")
        reply(page, "business days")
    assert "Traceback" not in a.log_text() + b.log_text()
