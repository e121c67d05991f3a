"""Language understanding of the offline dialogue engine: intents, routing and entity extraction."""
