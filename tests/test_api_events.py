"""The API's view of a turn, without a server: typed events as JSON, the whole turn's result, and refusals as
problem details with the status a client can act on."""

from __future__ import annotations

from agent.runner.events import ConfirmationRequested, Notice, TextDelta, TurnDone
from agent.web.api.events import card_id, event_dict, turn_result
from agent.web.api.routes import _outcome, _replayed


def test_a_refused_message_is_a_problem_with_its_status_and_retry_after() -> None:
    events = [event_dict(Notice("n1", "You're sending messages faster than I can answer. Please wait 7 seconds.")),
              event_dict(TurnDone("", "rejected", reason="rate_limited", retry_after_s=7))]  # fmt: skip
    status, body = _outcome("c1", events)
    assert status == 429 and body["type"] == "/api/v1/problems/rate-limited" and "wait 7 seconds" in body["detail"]
    response = _replayed({"status_code": status, "body": body})
    assert response.status_code == 429 and response.headers["retry-after"] == "7"
    assert response.media_type == "application/problem+json"
    draining = [event_dict(TurnDone("", "rejected", reason="draining"))]
    assert _outcome("c1", draining)[0] == 503


def test_a_turn_result_keeps_the_order_and_names_cards_by_id_only() -> None:
    token = "secret-click-token"
    events = [event_dict(e) for e in (
        TextDelta("Here is the change. "), ConfirmationRequested(token, "cancel_pending_order", ("Cancel #W1",)),
        Notice("n1", "Confirm or cancel below."), TurnDone("", "completed"))]  # fmt: skip
    result = turn_result("c1", events)
    assert result["reply"] == "Here is the change. \n\nConfirm or cancel below."
    assert result["cards"] == [{"id": card_id(token), "tool": "cancel_pending_order", "summary": ["Cancel #W1"]}]
    assert token not in str(result) and _outcome("c1", events) == (200, result)
