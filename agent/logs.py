"""Process-wide logging set-up, called once by entry points.

Every line carries what is known about where it came from (the HTTP request's correlation id, the chat
turn's id, the conversation and the user's role), read from context variables that the web middleware
and the chat service set, so concurrent turns never mix their fields. Every line is also scrubbed of
emails, card numbers, phone numbers and street addresses before any handler writes it: customers type
all of these, and log storage is not where they belong.

`json` writes one object per line (python-json-logger) for a log shipper; `text` keeps `make run` readable.
"""

from __future__ import annotations

import contextlib
import contextvars
import logging
import re
from collections.abc import Callable, Iterator
from typing import Literal

from pythonjsonlogger.json import JsonFormatter

LogFormat = Literal["text", "json"]
CONTEXT_FIELDS = ("request_id", "turn_id", "conversation_id", "role")
_context: dict[str, contextvars.ContextVar[str | None]] = {
    name: contextvars.ContextVar(f"log_{name}", default=None) for name in CONTEXT_FIELDS
}
# Chatty third-party loggers that report nothing actionable at INFO.
QUIET = ("httpx", "httpx2", "chromadb", "sentence_transformers", "bm25s", "unstructured")
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s%(context)s"
JSON_FIELDS = "%(asctime)s %(levelname)s %(name)s %(message)s"

# What is redacted, most specific first (an address's house number must not be read as a phone number).
_STREET_SUFFIX = (
    r"(?:street|st|avenue|ave|road|rd|drive|dr|lane|ln|boulevard|blvd|way|court|ct|place|pl|terrace|ter|"
    r"parkway|pkwy|highway|hwy|circle|cir|square|sq|trail|trl|alley|aly)"
)
MIN_PHONE_DIGITS = 10
REDACTIONS: tuple[tuple[re.Pattern[str], str | Callable[[re.Match[str]], str]], ...] = (
    (re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+"), "[email]"),
    # 13-19 digits, optionally grouped by spaces or dashes: every card number length (no Luhn check, on purpose:
    # a mistyped card number is still a card number).
    (re.compile(r"(?<![\w-])\d(?:[ -]?\d){12,18}(?![\w-])"), "[card]"),
    # A house number, one to four words, a street suffix ("221 Pine Street", "4 North Oak Ave.").
    (re.compile(rf"(?<![\w#])\d{{1,6}}[A-Za-z]?(?:\s+[A-Za-z][\w'.-]*){{1,4}}?\s+{_STREET_SUFFIX}\b\.?", re.I),
     "[address]"),
    # International (+44 20 7946 0958) or North American ((415) 555-0134, 415.555.0134, 4155550134) numbers.
    # At least 10 digits, so dates, order numbers and counts stay readable; never an ISO date or a date and its
    # time ("2026-12-04 12:26:25" has ten digits before its first colon).
    (re.compile(r"(?<![\w+-])(?!\d{4}-\d{2}-\d{2}(?!\d))(?:\+\d{1,3}[ .-]?)?(?:\(\d{2,4}\)|\d{2,4})"
                r"(?:[ .-]?\d{2,4}){2,3}(?![\w-])(?!:\d)"),
     lambda match: "[phone]" if sum(c.isdigit() for c in match.group()) >= MIN_PHONE_DIGITS else match.group()),
)


def redact(text: str) -> str:
    for pattern, replacement in REDACTIONS:
        text = pattern.sub(replacement, text)
    return text


class RedactingFilter(logging.Filter):
    """Formats the message with its args, then redacts it: args carry personal data as often as the text does.
    Tracebacks are redacted by the formatters (`_Redacting`), which are the ones that render them."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = redact(record.getMessage())
        record.args = None
        return True


class _Redacting(logging.Formatter):
    def formatException(self, ei) -> str:  # noqa: N802 - logging's naming
        return redact(super().formatException(ei))

    def formatStack(self, stack_info: str) -> str:  # noqa: N802
        return redact(super().formatStack(stack_info))


class ContextFilter(logging.Filter):
    """Copies the known context fields onto the record (as attributes) and into `%(context)s` for text lines."""

    def filter(self, record: logging.LogRecord) -> bool:
        known = []
        for name, var in _context.items():
            value = var.get()
            if value is not None and getattr(record, name, None) is None:
                setattr(record, name, value)
            if getattr(record, name, None) is not None:
                known.append(f"{name}={getattr(record, name)}")
        record.context = f" [{' '.join(known)}]" if known else ""
        return True


class _JsonFormatter(_Redacting, JsonFormatter):
    def add_fields(self, log_record: dict, record: logging.LogRecord, message_dict: dict) -> None:
        super().add_fields(log_record, record, message_dict)
        log_record.pop("context", None)  # the text format's rendering of the fields already present
        for name in CONTEXT_FIELDS:
            if getattr(record, name, None) is None:
                log_record.pop(name, None)


def handler(log_format: LogFormat) -> logging.Handler:
    out = logging.StreamHandler()
    out.addFilter(ContextFilter())
    out.addFilter(RedactingFilter())
    if log_format == "json":
        out.setFormatter(_JsonFormatter(JSON_FIELDS, rename_fields={"levelname": "level", "name": "logger"}))
    else:
        out.setFormatter(_Redacting(TEXT_FORMAT))
    return out


def configure_logging(level: str, log_format: LogFormat = "text") -> None:
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler(log_format))
    root.setLevel(level)
    for name in QUIET:
        logging.getLogger(name).setLevel(max(logging.WARNING, logging.getLevelName(level)))


def route_to_root(*names: str) -> None:
    """Let loggers that a server configured with their own handlers (uvicorn's) go through ours instead."""
    for name in names:
        logger = logging.getLogger(name)
        for old in list(logger.handlers):
            logger.removeHandler(old)
        logger.propagate = True


def context_value(name: str) -> str | None:
    return _context[name].get()


@contextlib.contextmanager
def log_context(**fields: str | None) -> Iterator[None]:
    """Set context fields for the block (None leaves a field as it is)."""
    tokens = [(_context[name], _context[name].set(value)) for name, value in fields.items() if value is not None]
    try:
        yield
    finally:
        for var, token in reversed(tokens):
            with contextlib.suppress(ValueError):  # reset from another context (a generator closed elsewhere)
                var.reset(token)
