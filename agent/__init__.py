"""The support agent: a channel-neutral chat service over a plain-Python runner, its models and sessions.

Layers, top to bottom (checked by import-linter, see pyproject.toml):
web (Chainlit adapter, routes) -> chat (ChatService) -> sessions -> runner (orchestrator) -> offline -> models.
The chat history (datalayer), accounts (users), settings and the factory sit beside them."""
