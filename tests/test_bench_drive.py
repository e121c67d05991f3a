"""The load bench's clock: when a reply's first words reached the page (bench/load_drive.py)."""

from __future__ import annotations

from bench.load_drive import first_output, percentile
from tests.cluster import Turn

SENT = 10.0


def turn(*events: tuple[float, str, dict]) -> Turn:
    return Turn(events=list(events))


def reply(output: str = "", kind: str = "assistant_message") -> dict:
    return {"id": "r1", "type": kind, "output": output}


def test_a_reply_streamed_in_one_chunk_shows_at_its_stream_start():
    """Chainlit sends a streamed reply's first chunk in stream_start; a one-chunk reply has no stream_token."""
    events = turn((10.1, "task_start", {}), (10.2, "stream_start", reply("Returns are free.")),
                  (10.9, "new_message", reply("Returns are free.")), (11.0, "task_end", {}))
    assert first_output(events, SENT) == 10.2


def test_tool_steps_and_an_empty_stream_start_are_not_words():
    events = turn((10.1, "new_message", reply("{}", kind="tool")), (10.2, "stream_start", reply("")),
                  (10.3, "stream_token", {"id": "r1", "token": "Hi"}), (10.4, "new_message", reply("Hi")))
    assert first_output(events, SENT) == 10.3


def test_a_whole_message_counts_and_earlier_turns_do_not():
    events = turn((9.5, "stream_start", reply("old")), (10.5, "new_message", reply("Sorry, one moment.")))
    assert first_output(events, SENT) == 10.5
    assert first_output(turn((10.2, "task_end", {})), SENT) is None


def test_percentiles_are_nearest_rank():
    values = [float(v) for v in range(1, 101)]
    assert (percentile(values, 50), percentile(values, 99), percentile([3.0], 99)) == (50.0, 99.0, 3.0)
