"""Forward passes shared by concurrent callers, as model servers batch requests.

A hundred conversations embed their messages at about the same moment. Run side by side, each call is a
forward pass of its own, fighting the others for the same two cores; one pass over all of them costs little
more than one over a single message. So a call that finds the model busy waits, and when the pass ends the
first waiting caller runs one pass for every call queued behind it ("group commit"). Nobody waits on a timer:
alone, a call runs at once. A long call (the help centre's sentences, embedded at start) runs a slice at a
time, queued like any other call, so a customer's message waits for one slice, not for all of it. The same holds
for any batchable call: Chroma answers 32 query vectors in one call for about a tenth of the CPU of 32 calls.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np


@dataclass(eq=False)
class _Call:
    texts: list[Any]
    vectors: Any = None  # the rows of the pass's result that answer `texts`
    error: BaseException | None = None
    done: bool = False


def chain(parts: list[Sequence[Any]]) -> list[Any]:
    """Slices' rows joined, for an `encode` that answers with a list."""
    return [row for part in parts for row in part]


class SharedPasses:
    """`run(texts)` from any thread; calls queued while a pass runs share the next one, up to `max_texts`
    texts (a larger call runs in slices of `max_texts`, each queued behind the calls already waiting).

    `encode` answers a list of items with one row per item (a numpy array, or a list with `join=chain`)."""

    def __init__(self, encode: Callable[[list[Any]], Any], max_texts: int,
                 join: Callable[[list[Any]], Any] = np.concatenate) -> None:
        self._encode = encode
        self.max_texts = max_texts
        self._join = join
        self._queue: deque[_Call] = deque()
        self._busy = False
        self._changed = threading.Condition()
        self.texts = 0  # texts run through the model

    def run(self, texts: list[Any]) -> Any:
        if len(texts) <= self.max_texts:
            return self._run(texts)
        return self._join([self._run(texts[start:start + self.max_texts])
                           for start in range(0, len(texts), self.max_texts)])

    def _run(self, texts: list[Any]) -> Any:
        call = _Call(list(texts))
        with self._changed:
            self._queue.append(call)
            while not call.done:
                if self._busy:
                    self._changed.wait()
                    continue
                self._busy = True
                batch = self._take()
                self._changed.release()
                try:
                    self._pass(batch)
                finally:
                    self._changed.acquire()
                    self._busy = False
                    self._changed.notify_all()
        if call.error is not None:
            raise call.error
        return call.vectors

    def _take(self) -> list[_Call]:
        batch = [self._queue.popleft()]
        size = len(batch[0].texts)
        while self._queue and size + len(self._queue[0].texts) <= self.max_texts:
            size += len(self._queue[0].texts)
            batch.append(self._queue.popleft())
        return batch

    def _pass(self, batch: list[_Call]) -> None:
        """One forward pass for the batch; each call gets its rows, or the pass's error."""
        texts = [text for call in batch for text in call.texts]
        self.texts += len(texts)
        try:
            vectors = self._encode(texts)
        except BaseException as exc:  # every caller in the pass sees the failure, none waits forever
            for call in batch:
                call.error, call.done = exc, True
            return
        start = 0
        for call in batch:
            call.vectors, call.done = vectors[start:start + len(call.texts)], True
            start += len(call.texts)
