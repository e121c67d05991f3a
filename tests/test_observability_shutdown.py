"""SIGTERM during a turn, on a real `chainlit run app.py`: the running turn finishes and is saved, a new message
is refused with a clear note, and the process exits within OBSERVABILITY_SHUTDOWN_GRACE_S.

The model server (tests/fake_llm.py) holds its answer for a few seconds, so the signal lands mid-turn.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sqlite3
import time
from collections.abc import Iterator

import pytest

from agent.chat.service import STOPPING
from tests.app_server_fixtures import ChatClient
from tests.chainlit_server import CUSTOMER, DEMO_PASSWORD, ChainlitServer, login, run_chainlit
from tests.fake_llm import RuleBasedOpenAI, Say

pytestmark = pytest.mark.server
REPLY = "Your parcel left our warehouse this morning."
ANSWER_DELAY_S = 4.0  # the model's think time: long enough for the signal to arrive mid-turn
GRACE_S = 20.0
WAIT_S = 60.0


@pytest.fixture
def slow_model() -> Iterator[RuleBasedOpenAI]:
    def rule(messages: list[dict]) -> Say:
        time.sleep(ANSWER_DELAY_S)
        return Say(REPLY)

    model = RuleBasedOpenAI(rule)
    yield model
    model.close()


@pytest.fixture
def server(tmp_path, slow_model: RuleBasedOpenAI) -> Iterator[ChainlitServer]:
    empty_docs = tmp_path / "no-docs"
    empty_docs.mkdir()
    env = {**slow_model.env(), "KNOWLEDGE_DOCS_DIR": str(empty_docs), "OBSERVABILITY_SHUTDOWN_GRACE_S": str(GRACE_S),
           "OBSERVABILITY_LOG_FORMAT": "json"}
    try:
        with run_chainlit(tmp_path / "app", env=env) as running:
            yield running
    except RuntimeError as exc:
        pytest.fail(str(exc), pytrace=False)


async def _wait_for(condition, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, what
        await asyncio.sleep(0.05)


def _saved_outputs(server: ChainlitServer) -> list[str]:
    with sqlite3.connect(server.database_path) as db:
        return [row[0] or "" for row in db.execute("SELECT output FROM steps")]


async def test_sigterm_lets_the_running_turn_finish_then_exits(server: ChainlitServer,
                                                              slow_model: RuleBasedOpenAI) -> None:
    token = login(server.base_url, CUSTOMER, DEMO_PASSWORD)
    first, second = ChatClient(server, token), ChatClient(server, token)
    await first.connect()
    await second.connect()
    try:
        running = asyncio.create_task(first.ask("Where is my parcel?"))
        await _wait_for(lambda: slow_model.requests, WAIT_S, "the turn never reached the model")
        signalled = time.monotonic()
        os.kill(server.process.pid, signal.SIGTERM)

        refused = await second.ask("And can I change the address?")
        assert STOPPING in refused.summary(), refused.summary()

        turn = await running
        assert REPLY in turn.summary(), f"{turn.summary()}\n{server.log_tail()}"
    finally:
        await first.close()
        await second.close()

    exit_code = await asyncio.to_thread(server.process.wait, GRACE_S + 10)
    elapsed = time.monotonic() - signalled
    assert elapsed < GRACE_S, f"exited {elapsed:.1f} s after SIGTERM (grace {GRACE_S} s)\n{server.log_tail()}"
    assert exit_code in (0, -signal.SIGTERM), server.log_tail()
    assert len(slow_model.requests) == 1  # the refused message never reached the model

    outputs = _saved_outputs(server)
    assert "Where is my parcel?" in outputs
    assert any(REPLY in output for output in outputs), outputs
    # The refused message is kept (nothing the customer typed is lost), with the note that says to resend it.
    assert "And can I change the address?" in outputs
    assert any(STOPPING in output for output in outputs), outputs

    # JSON log lines, with the drain said in them.
    lines = [json.loads(line) for line in server.log_text().splitlines() if line.startswith("{")]
    messages = [line["message"] for line in lines]
    assert any(m.startswith("SIGTERM: refusing new messages") for m in messages), server.log_tail()
    assert "every running turn finished: stopping" in messages, server.log_tail()
    refusal = next(line for line in lines if line["message"].startswith("message refused in conversation"))
    assert refusal["role"] == "customer" and refusal["conversation_id"] and refusal["request_id"], refusal
