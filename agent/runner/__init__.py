"""The runner: one turn of a conversation as a stream of typed events (orchestrator, memory, prompt)."""
