"""Exception root of the data layer.

Every failure the data layer cannot recover from surfaces as a `DataLayerError`
(never a silently logged SQL error), so callers can tell the customer their
conversation was not saved instead of losing history without a trace.
"""

from __future__ import annotations

from agent.errors import AgentRuntimeError


class DataLayerError(AgentRuntimeError):
    """A read or write of chat history, users or files failed."""

    user_message = "Sorry, I couldn't save or load this conversation. Please try again in a moment."

    def __init__(self, message: str, *, thread_id: str | None = None) -> None:
        super().__init__(message)
        self.thread_id = thread_id


class ThreadOwnershipError(DataLayerError):
    """Someone tried to attach an existing thread to a different user."""


class StorageKeyError(DataLayerError, ValueError):
    """A file key would escape the storage root (absolute, `..`, symlink) or is malformed."""


class UserExistsError(DataLayerError):
    """`create_user` was asked for an identifier that is already registered."""


class UnknownUserError(DataLayerError):
    """No user has this identifier."""
