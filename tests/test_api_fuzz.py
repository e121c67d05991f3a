"""Schemathesis against the served /api/v1/openapi.json of a real `chainlit run app.py`: for every operation, data
generated from the schema (valid and invalid) never gets a 5xx, and every response matches what the schema
documents (status codes, content types, bodies). Signed in as the demo customer, so requests reach the
handlers; random conversation ids and card ids reach the 404s, real ones are in tests/test_api.py."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.chainlit_server import ChainlitServer, run_chainlit
from tests.test_api import API, SHOP_SECRET, shop_token

pytestmark = pytest.mark.server
EXAMPLES = 40  # per operation: enough to reach every branch of the request checks, in a minute or so


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ChainlitServer]:
    # The rate limit is raised: fuzzed messages are real turns, and the fuzzer must see their answers, not 429s only.
    env = {"AUTH_WIDGET_SECRET": SHOP_SECRET, "SESSION_RATE_LIMIT_BURST": "10000",
           "SESSION_RATE_LIMIT_PER_MINUTE": "10000"}  # fmt: skip
    try:
        with run_chainlit(tmp_path_factory.mktemp("chainlit-api-fuzz"), env=env) as running:
            yield running
    except RuntimeError as exc:
        pytest.fail(str(exc), pytrace=False)


def test_no_server_error_and_every_response_as_documented(server: ChainlitServer) -> None:
    schema = schemathesis.openapi.from_url(f"{server.base_url}{API}/openapi.json")
    headers = {"Authorization": f"Bearer {shop_token(ttl_s=3600)}"}
    operations = [result.ok() for result in schema.get_all_operations()]
    assert {f"{op.method.upper()} {op.path}" for op in operations} >= {
        "POST /conversations", "GET /conversations", "GET /conversations/{conversation_id}/messages",
        "POST /conversations/{conversation_id}/messages",
        "POST /conversations/{conversation_id}/confirmations/{card}",
    }  # fmt: skip
    # Every other case aims at a real conversation of the caller's, so generated bodies reach the turn itself.
    real = httpx.post(f"{server.base_url}{API}/conversations", headers=headers, timeout=30).json()["id"]
    for operation in operations:

        @given(case=operation.as_strategy(), aim=st.booleans())
        @settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
                  suppress_health_check=list(HealthCheck))  # fmt: skip
        def check(case: schemathesis.Case, aim: bool) -> None:
            if aim and "conversation_id" in (case.path_parameters or {}):
                case.path_parameters["conversation_id"] = real
            if case.headers and "idempotency-key" in case.headers:  # a generated key repeats ("0"): reusing one for
                case.headers["idempotency-key"] += uuid.uuid4().hex  # another body is a 422 by design (test_api.py)
            case.call_and_validate(base_url=f"{server.base_url}{API}", headers=headers)

        check()
    turns = httpx.get(f"{server.base_url}{API}/conversations/{real}/messages", headers=headers, timeout=30)
    assert turns.json()["messages"], "no generated message reached the chat service"
