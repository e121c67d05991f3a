"""The offline dialogue engine: a `ChatModel` with no LLM (router, entities, slot-filling flows, extractive answers)."""
