"""One exception root for the agent package.

`ConfigurationError` is a developer mistake and should crash at start-up.
Everything under `AgentRuntimeError` happens in production and carries a
message that is safe to show a customer.
"""


class AgentError(Exception):
    """Root of every error raised by `agent`."""


class ConfigurationError(AgentError):
    """The app is wired or configured wrongly; fix the code or the settings."""


class AgentRuntimeError(AgentError):
    user_message = "Sorry, something went wrong on our side. Please try again in a moment."


class ModelError(AgentRuntimeError):
    """The language model could not produce a reply."""

    def __init__(self, kind: str, detail: str = "") -> None:
        super().__init__(f"{kind}: {detail}" if detail else kind)
        self.kind = kind
        self.user_message = _MODEL_MESSAGES.get(kind, AgentRuntimeError.user_message)


_MODEL_MESSAGES = {
    "rate_limited": "Our assistant is very busy right now. Please try again in a minute.",
    "timeout": "Our assistant took too long to answer. Please try again.",
    "unavailable": "Our assistant is temporarily unavailable. Please try again shortly.",
    "bad_response": "Our assistant gave an answer I could not use. Please rephrase or try again.",
    "auth": "Our assistant is not configured correctly. A human agent can still help you.",
}


class DialogueError(AgentError):
    """The offline engine's flows are written wrongly (a developer mistake), e.g. they switch in a circle."""
