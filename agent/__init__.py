"""The support agent: a channel-neutral chat service over a plain-Python runner, its models and sessions.

Layers, top to bottom (checked by import-linter, see pyproject.toml):
web (Chainlit adapter, routes) -> chat (ChatService) -> runner (orchestrator) -> offline / models -> sessions."""
