"""Process-wide logging set-up, called once by entry points."""

import logging


def configure_logging(level: str) -> None:
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    # Chatty third-party loggers that report nothing actionable at INFO.
    for name in ("httpx", "httpx2", "chromadb", "sentence_transformers", "bm25s", "unstructured"):
        logging.getLogger(name).setLevel(max(logging.WARNING, logging.getLevelName(level)))
