"""The router's trained classifier kept on disk between starts (agent/offline/training_cache.py)."""

from __future__ import annotations

import numpy as np

from agent.offline.router import IntentRouter
from agent.offline.training_cache import cache_key, trained
from agent.settings import OfflineSettings


def test_trained_once_then_loaded(tmp_path):
    calls: list[int] = []

    def train() -> dict:
        calls.append(1)
        return {"weights": [1, 2, 3]}

    assert trained(tmp_path, "m", "k1", train) == {"weights": [1, 2, 3]}
    assert trained(tmp_path, "m", "k1", train) == {"weights": [1, 2, 3]}
    assert len(calls) == 1
    trained(tmp_path, "m", "k2", train)
    assert len(calls) == 2, "another key trains afresh"
    assert not list(tmp_path.glob("*.tmp")), "written under a temporary name, then renamed"


def test_an_unreadable_file_is_trained_over_and_no_directory_means_no_cache(tmp_path):
    (tmp_path / "m-k.joblib").write_bytes(b"half a pickle")
    assert trained(tmp_path, "m", "k", lambda: 42) == 42
    assert trained(tmp_path, "m", "k", lambda: 0) == 42, "the bad file was replaced"
    assert trained(None, "m", "k", lambda: 7) == 7
    blocked = tmp_path / "a-file"
    blocked.write_text("not a directory")
    assert trained(blocked, "m", "k", lambda: 8) == 8, "a cache that cannot be written costs only the next start"


def test_the_key_covers_its_parts():
    assert cache_key(["a"], {"c": 1}) == cache_key(["a"], {"c": 1})
    assert cache_key(["a"], {"c": 1}) != cache_key(["a"], {"c": 2})


def test_a_second_start_loads_the_router_without_embedding_its_examples(embedder, tmp_path, monkeypatch):
    settings = OfflineSettings(router_cache_dir=tmp_path)
    first = IntentRouter.from_settings(embedder, settings)
    embedded: list[int] = []
    real = embedder.embed
    monkeypatch.setattr(embedder, "embed", lambda texts: embedded.append(len(texts)) or real(texts))
    second = IntentRouter.from_settings(embedder, settings)
    assert embedded == [1], "only the model's probe sentence, not the ~1,700 examples"
    texts = ["where is my order", "cancel my gym membership", "can I return opened headphones?"]
    assert [r.intent for r in second.route_many(texts)] == [r.intent for r in first.route_many(texts)]
    assert np.allclose([r.score for r in second.route_many(texts)], [r.score for r in first.route_many(texts)])
    assert len(list(tmp_path.glob("router-*.joblib"))) == 1


def test_the_train_command_leaves_the_router_in_the_cache_folder(tmp_path):
    import os
    import subprocess
    import sys

    from tests.conftest import ROOT

    env = {**os.environ, "OFFLINE_ROUTER_CACHE_DIR": str(tmp_path / "cache")}
    result = subprocess.run([sys.executable, "-m", "agent.eval", "train"], cwd=ROOT, env=env,
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr
    assert len(list((tmp_path / "cache").glob("router-*.joblib"))) == 1
    off = subprocess.run([sys.executable, "-m", "agent.eval", "train"], cwd=ROOT, capture_output=True, text=True,
                         env={**os.environ, "OFFLINE_ROUTER_CACHE_DIR": ""}, timeout=600)
    assert off.returncode == 1 and "nothing to keep" in off.stderr
