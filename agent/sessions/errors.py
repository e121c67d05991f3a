"""Session-state failures. All are runtime failures with a message safe to show."""

from agent.errors import AgentRuntimeError


class SessionError(AgentRuntimeError):
    user_message = "I'm having trouble reaching our conversation store. Your message is saved; please try again shortly."


class SessionUnavailable(SessionError):
    """The shared store (Redis) cannot be reached."""


class SessionConflict(SessionError):
    """An update kept losing write races; the caller should retry later."""


class LockTimeout(SessionError):
    user_message = "I'm still working on your previous message. Please wait a moment and send this one again."
