"""The knowledge base: ingestion, embeddings, vector stores, hybrid retrieval and uploads."""
