"""The router's trained classifier, kept on disk between starts.

Training embeds every example (about 1,700) and fits the classifier: seconds at every start of every
instance, and of every server a test starts. The result depends only on the examples, the classifier's
options, the embedding model and scikit-learn's version, so it is stored under a hash of those and loaded
when they match; anything else (a new example, another model) trains afresh and writes a new file. A file
that cannot be read is ignored and trained over, and one is written to a temporary name and renamed into
place, so instances starting together never read a half-written file.

The file is a pickle (joblib): it is trusted like the code, so it lives in the app's own data folder.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import joblib
import sklearn

log = logging.getLogger(__name__)
FORMAT = 2  # raise when what is stored changes shape
T = TypeVar("T")


def cache_key(*parts: Any) -> str:
    """A hash of `parts` (JSON-able) with the library versions the stored object depends on."""
    blob = json.dumps([FORMAT, sklearn.__version__, *parts], sort_keys=True, default=str, ensure_ascii=False)
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()[:24]


def trained(directory: Path | None, name: str, key: str, train: Callable[[], T]) -> T:
    """The object stored as `name`-`key` in `directory`, or `train()`'s result, then stored there."""
    if directory is None:
        return train()
    path = directory / f"{name}-{key}.joblib"
    try:
        return joblib.load(path)
    except (FileNotFoundError, NotADirectoryError):
        pass
    except Exception:  # a truncated or foreign file: train again and replace it
        log.warning("ignoring the unreadable cache %s", path, exc_info=True)
    value = train()
    temporary = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    try:
        directory.mkdir(parents=True, exist_ok=True)
        joblib.dump(value, temporary)
        os.replace(temporary, path)
    except OSError:
        log.warning("could not store %s; the next start trains again", path, exc_info=True)
        with contextlib.suppress(OSError):
            temporary.unlink(missing_ok=True)
    return value
