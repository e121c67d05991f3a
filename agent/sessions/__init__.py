"""Session state, conversation locks and rate limits: in memory, or in Redis across instances."""
