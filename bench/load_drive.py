"""Concurrent chats over Chainlit's socket.io, as the page drives them (tests.cluster.ChatClient), timed.

Every chat connects first (its `on_chat_start` done); then the clock starts and each chat sends its turns one
after another, each as soon as the previous one's `task_end` arrived. A chat that times out or loses its socket
stops there: the error is counted once and its remaining turns are not sent.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.cluster import AppInstance, ChatClient, Turn

# Real-style customer messages, each sent once (a cache must not make a benchmark of five repeated questions
# look fast): the routing dev sets' 634 texts (orders, returns, policy questions, small talk, out of scope).
# The same messages, in the same order, for both apps (the echo streams them back).
EVAL_DATA = Path(__file__).resolve().parent.parent / "agent" / "eval" / "data"
MESSAGES = [json.loads(line)["text"] for name in ("routing_dev.jsonl", "routing_dev2.jsonl")
            for line in (EVAL_DATA / name).read_text(encoding="utf-8").splitlines() if line.strip()]


@dataclass
class Run:
    chats: int
    turns: int
    wall_s: float = 0.0
    first_token_ms: list[float] = field(default_factory=list)
    turn_ms: list[float] = field(default_factory=list)
    errors: Counter = field(default_factory=Counter)
    sample_reply: str = ""  # the first answer's text: proof the app answered, not just ended the turn

    @property
    def turns_per_s(self) -> float:
        return len(self.turn_ms) / self.wall_s if self.wall_s else 0.0


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile; NaN for no values."""
    if not values:
        return math.nan
    ordered = sorted(values)
    return ordered[max(0, min(len(ordered) - 1, math.ceil(q / 100 * len(ordered)) - 1))]


def first_output(turn: Turn, sent_at: float) -> float | None:
    """When the reply's first words reached the page: the first assistant message, streamed or whole.

    Chainlit sends a streamed message's first chunk in `stream_start` (the message with its text so far), the
    later ones in `stream_token`, and a whole message in `new_message`; the page shows the message on each
    (`stream_start` adds it as `new_message` does). A reply sent in one chunk has no `stream_token` at all.
    """
    for t, name, data in turn.events:
        if t < sent_at or not isinstance(data, dict):
            continue
        if name == "stream_token" and not data.get("isInput"):
            return t
        if name == "stream_start" and data.get("type") == "assistant_message" and data.get("output"):
            return t
        if name == "new_message" and data.get("type") == "assistant_message":
            return t
    return None


def reply_text(turn: Turn) -> str:
    if not turn.assistant_messages:
        return ""
    return turn.reply_text or turn.streamed.get(turn.reply["id"], "")


def failed(turn: Turn) -> bool:
    # A tool step marked as an error (a refused lookup) is part of a normal answer; only an error reply counts.
    return any((m.get("isError") or m.get("name") == "Error") and m.get("type") != "tool" for m in turn.messages.values())


class Chat:
    """One ChatClient that notices a lost socket at once instead of waiting out the turn timeout."""

    def __init__(self, instance: AppInstance) -> None:
        self.client = ChatClient(instance, token="")  # sign-in is off on both apps
        self.gone = asyncio.Event()
        self.client.sio.on("disconnect", self._gone)

    async def _gone(self, *args: Any) -> None:
        self.gone.set()

    async def turn(self, text: str) -> tuple[float, Turn | None, str]:
        """(sent at, the turn or None, "" or the error's kind)."""
        try:
            sent_at = await self.client.send(text)
        except Exception:  # socketio raises its own errors for a closed namespace
            return time.monotonic(), None, "disconnects"
        collect = asyncio.ensure_future(self.client.collect_turn())
        lost = asyncio.ensure_future(self.gone.wait())
        done, _ = await asyncio.wait({collect, lost}, return_when=asyncio.FIRST_COMPLETED)
        lost.cancel()
        if collect not in done:
            collect.cancel()
            return sent_at, None, "disconnects"
        try:
            return sent_at, collect.result(), ""
        except AssertionError:  # ChatClient's "no task_end within ..."
            return sent_at, None, "disconnects" if self.gone.is_set() else "timeouts"


async def _connect(instance: AppInstance, run: Run) -> Chat | None:
    chat = Chat(instance)
    try:
        await chat.client.connect()
        return chat
    except Exception:
        run.errors["connect failures"] += 1
        with contextlib.suppress(Exception):
            await chat.client.close()
        return None


async def _turns(chat: Chat, index: int, run: Run, start: int) -> None:
    for k in range(run.turns):
        sent_at, turn, error = await chat.turn(MESSAGES[(start + index * run.turns + k) % len(MESSAGES)])
        if error:
            run.errors[error] += 1
            return
        assert turn is not None
        if failed(turn):
            run.errors["error replies"] += 1
            continue
        if not run.sample_reply:
            run.sample_reply = reply_text(turn)
        end = turn.times("task_end")[-1]
        first = first_output(turn, sent_at)
        run.turn_ms.append((end - sent_at) * 1000)
        if first is None:
            run.errors["turns without output"] += 1
        else:
            run.first_token_ms.append((first - sent_at) * 1000)


async def drive(instance: AppInstance, chats: int, turns: int, first: int = 0) -> Run:
    """`chats` chats x `turns` turns; the messages are MESSAGES from `first` on, each chat's turns in a row."""
    run = Run(chats, turns)
    connected = await asyncio.gather(*(_connect(instance, run) for _ in range(chats)))
    live = [chat for chat in connected if chat is not None]
    try:
        started = time.monotonic()
        await asyncio.gather(*(_turns(chat, i, run, first) for i, chat in enumerate(live)))
        run.wall_s = time.monotonic() - started
    finally:
        await asyncio.gather(*(chat.client.close() for chat in live), return_exceptions=True)
    return run
