"""Import spaCy without torch.

spaCy's maths library, thinc, imports torch when it can, for models we never run: ~300 MB of resident memory in
every process that converts a document (unstructured tags text with spaCy), while the embeddings run in ONNX
Runtime. While `torch_hidden()` holds, `import torch` raises ImportError, which thinc takes as "no torch".
The torch embedding runner imports torch under `TORCH_IMPORT` so it never meets the hidden module.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager

TORCH_IMPORT = threading.Lock()


@contextmanager
def torch_hidden() -> Iterator[None]:
    with TORCH_IMPORT:
        if "torch" in sys.modules:  # imported already (the torch runner, an export): nothing to save
            yield
            return
        sys.modules["torch"] = None  # type: ignore[assignment]  # the import system's "not importable"
        try:
            yield
        finally:
            if "torch" in sys.modules and sys.modules["torch"] is None:
                del sys.modules["torch"]
