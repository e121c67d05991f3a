"""Model adapters behind the two-method `ChatModel`: OpenAI-compatible servers and scripted test models."""
