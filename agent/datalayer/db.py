"""Retries and timestamps of the chat history (engines and dialects: `tools.store.sql`)."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any, TypeVar

from tenacity import AsyncRetrying, retry_if_exception, stop_after_attempt, wait_exponential

from agent.datalayer.errors import DataLayerError
from agent.errors import ConfigurationError
from tools.store.sql import is_transient

log = logging.getLogger("agent.datalayer")
T = TypeVar("T")


async def run_with_retries(
    operation: str,
    thread_id: str | None,
    fn: Callable[[], Awaitable[T]],
    *,
    attempts: int,
    wait_s: float,
) -> T:
    """Run `fn`, retrying transient database errors; anything left is logged and raised as DataLayerError."""

    where = f" for thread {thread_id}" if thread_id else ""

    def before_sleep(state: Any) -> None:
        log.warning(
            "%s%s failed (attempt %d of %d), retrying: %s",
            operation, where, state.attempt_number, attempts, state.outcome.exception(),
            extra={"thread_id": thread_id},
        )  # fmt: skip

    try:
        async for attempt in AsyncRetrying(
            stop=stop_after_attempt(attempts),
            wait=wait_exponential(multiplier=wait_s, max=max(wait_s * 8, wait_s)),
            retry=retry_if_exception(is_transient),
            before_sleep=before_sleep,
            reraise=True,
        ):
            with attempt:
                return await fn()
    except (DataLayerError, ConfigurationError):
        raise  # already explained (ownership, bad key...) or a developer mistake; never transient
    except Exception as exc:
        log.error("%s%s failed: %s: %s", operation, where, type(exc).__name__, exc, extra={"thread_id": thread_id})
        raise DataLayerError(f"{operation}{where} failed: {exc}", thread_id=thread_id) from exc
    raise AssertionError("unreachable: tenacity either returns or raises")


def parse_ts(value: Any) -> datetime | None:
    """Chainlit timestamps are ISO strings ending in Z; stored as naive UTC so both backends sort alike."""
    if value is None or value == "":
        return None
    moment = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC).replace(tzinfo=None)
    return moment


def format_ts(value: datetime | None) -> str | None:
    # Exactly chainlit.utils.utc_now()'s format, so a stored timestamp reads back unchanged.
    if value is None:
        return None
    if value.tzinfo is not None:
        value = value.astimezone(UTC).replace(tzinfo=None)
    return value.isoformat() + "Z"
