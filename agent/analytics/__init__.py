"""Analytics over the chat history that need more than SQL: content gaps grouped by meaning."""
