"""One exception root for the tools package."""

from __future__ import annotations

from typing import Literal

# What went wrong, in words a model and a UI can act on (the wire word of `ToolResult.error`).
ErrorKind = Literal["not_found", "invalid", "unavailable", "needs_confirmation", "forbidden"]


class ToolError(Exception):
    """Root of every error raised by `tools`."""


class ToolDefinitionError(ToolError):
    """A tool is written or registered wrongly: a developer mistake, raised at start-up."""


class ToolFailure(ToolError):
    """A tool's expected, typed failure; the registry turns it into a failed `ToolResult`."""

    def __init__(self, kind: ErrorKind, message: str) -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message


class TransientToolError(ToolError):
    """A backend hiccup worth retrying (read-only tools only)."""


class StoreConfigurationError(ToolError, ValueError):
    """The store's database URL or schema is not usable (a deployment mistake, raised before any query)."""


class TicketError(ToolError):
    """A support lead's change to a ticket that cannot be made; `message` is fit to show the lead."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class TicketNotFound(TicketError):
    """No ticket has this id."""


class TicketChangeRefused(TicketError):
    """A move the workflow does not allow (solved -> pending, open -> open), or an empty or too long note."""


class InvalidTicketCursor(TicketError, ValueError):
    """A queue page cursor this package did not write (hand-edited, truncated or from another version)."""
