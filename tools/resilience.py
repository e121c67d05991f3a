"""A per-backend circuit breaker: after N consecutive failures, stop calling for a cool-down."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Literal

log = logging.getLogger(__name__)
State = Literal["closed", "open", "half_open"]


class CircuitBreaker:
    def __init__(
        self, name: str, failure_threshold: int, reset_s: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.name = name
        self.failure_threshold = failure_threshold
        self.reset_s = reset_s
        self._clock = clock
        self._failures = 0
        self._opened_at: float | None = None
        self._trial_running = False

    @property
    def state(self) -> State:
        if self._opened_at is None:
            return "closed"
        return "half_open" if self._clock() - self._opened_at >= self.reset_s else "open"

    def allow(self) -> bool:
        """Closed: yes. Open: no. Half-open: one trial call at a time."""
        state = self.state
        if state == "closed":
            return True
        if state == "half_open" and not self._trial_running:
            self._trial_running = True
            return True
        return False

    def record_success(self) -> None:
        if self._opened_at is not None:
            log.info("circuit %s closed again", self.name)
        self._failures = 0
        self._opened_at = None
        self._trial_running = False

    def record_failure(self) -> None:
        self._failures += 1
        self._trial_running = False
        if self.state == "half_open" or self._failures >= self.failure_threshold:
            if self.state != "open":
                log.warning("circuit %s opened after %d consecutive failures", self.name, self._failures)
            self._opened_at = self._clock()
