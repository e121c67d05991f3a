"""The ONNX runner is the same model as sentence-transformers on torch: same vectors, exported once, refused when
the model folder pools in a way it does not reproduce."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from knowledge import onnx_model
from knowledge.embedder import Embedder, packaged_model_path
from knowledge.errors import KnowledgeConfigError
from knowledge.settings import KnowledgeSettings

ROOT = Path(__file__).resolve().parent.parent
TEXTS = [
    "where is my order",
    "I want a refund for the blender that arrived broken!!",
    "¿Puedo devolver un artículo después de 30 días?",
    "ok",
    "my parcel " * 300,  # past the model's 256 tokens: both runners cut it at the same place
]


@pytest.fixture(scope="module")
def graph_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("onnx")


def test_onnx_and_torch_give_the_same_vectors(graph_dir):
    onnx = Embedder(backend="onnx", onnx_dir=graph_dir, cache_size=0).embed(TEXTS)
    torch = Embedder(backend="torch", cache_size=0).embed(TEXTS)
    assert onnx.shape == torch.shape == (len(TEXTS), 384)
    assert onnx.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(onnx, axis=1), 1.0, atol=1e-5)
    np.testing.assert_allclose(onnx, torch, atol=1e-5)


def test_a_batch_gives_each_text_the_vector_it_gets_alone(graph_dir):
    """Padding to the batch's longest text must not leak into the shorter texts' means."""
    embedder = Embedder(backend="onnx", onnx_dir=graph_dir, cache_size=0)
    together = embedder.embed(TEXTS[:3])
    alone = np.stack([embedder.embed([text])[0] for text in TEXTS[:3]])
    np.testing.assert_allclose(together, alone, atol=1e-5)


def test_the_graph_is_exported_once_and_reused(graph_dir, monkeypatch):
    Embedder(backend="onnx", onnx_dir=graph_dir).embed(["warm"])  # exported by now, by this test or an earlier one
    assert len(list(graph_dir.glob("*.onnx"))) == 1

    def no_export(*_args):
        raise AssertionError("exported again although the graph is cached")

    monkeypatch.setattr(onnx_model, "export_apart", no_export)
    assert Embedder(backend="onnx", onnx_dir=graph_dir).embed(["again"]).shape == (1, 384)


def test_the_export_runs_apart_so_torch_never_loads_in_the_serving_process(tmp_path):
    """torch and transformers stay resident once imported (~400 MB): the export runs in a child process."""
    # Run from elsewhere, the project found by path only: the export's child must find the package itself.
    probe = (f"import sys; sys.path.insert(0, {str(ROOT)!r}); from pathlib import Path; "
             "from knowledge.embedder import Embedder; "
             f"Embedder(backend='onnx', onnx_dir=Path({str(tmp_path)!r}), cache_size=0).embed(['hello']); "
             "print(sorted(m for m in ('torch', 'transformers') if m in sys.modules))")
    env = {name: value for name, value in os.environ.items() if name != "PYTHONPATH"}
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, cwd=tmp_path, env=env,
                          check=True)
    assert done.stdout.strip() == "[]"
    assert len(list(tmp_path.glob("*.onnx"))) == 1


def test_a_failed_export_says_why(tmp_path):
    folder = tmp_path / "model"
    shutil.copytree(packaged_model_path(), folder)
    (folder / "model.safetensors").write_bytes(b"not weights")
    with pytest.raises(KnowledgeConfigError, match=r"could not export .* to ONNX \(exit status 1\): .*SafetensorError"):
        Embedder(str(folder), backend="onnx", onnx_dir=tmp_path / "graphs").embed(["hello"])
    assert not list((tmp_path / "graphs").glob("*"))


def test_new_weights_get_a_graph_of_their_own(tmp_path):
    folder = tmp_path / "model"
    shutil.copytree(packaged_model_path(), folder)
    before = onnx_model.export_path(folder, tmp_path / "graphs")
    (folder / "model.safetensors").touch()  # as a new release of the weights would
    assert onnx_model.export_path(folder, tmp_path / "graphs") != before


def test_a_model_pooled_otherwise_is_refused_with_the_setting_to_use(tmp_path):
    folder = tmp_path / "model"
    shutil.copytree(packaged_model_path(), folder)
    pooling = folder / "1_Pooling" / "config.json"
    config = json.loads(pooling.read_text()) | {"pooling_mode_mean_tokens": False, "pooling_mode_cls_token": True}
    pooling.write_text(json.dumps(config))
    with pytest.raises(KnowledgeConfigError, match="KNOWLEDGE_EMBEDDING_BACKEND=torch"):
        Embedder(str(folder), backend="onnx", onnx_dir=tmp_path / "graphs").embed(["hello"])


def test_onnx_is_the_default_backend():
    assert KnowledgeSettings().embedding_backend == "onnx"
    assert Embedder().backend == "onnx"


def test_long_batches_run_in_passes_of_like_length_under_the_token_budget(graph_dir, monkeypatch):
    """Memory follows a pass's texts x its longest text: a batch over the budget is cut into passes of texts of
    like length, and every text still gets the vector it gets alone, in the order asked."""
    whole = Embedder(backend="onnx", onnx_dir=graph_dir, cache_size=0, batch_tokens=100_000).embed(TEXTS)
    budget = 64
    embedder = Embedder(backend="onnx", onnx_dir=graph_dir, cache_size=0, batch_tokens=budget)
    encoder = embedder._load()
    passes: list[tuple[int, int]] = []
    run = encoder._pass
    monkeypatch.setattr(encoder, "_pass", lambda rows, longest: passes.append((len(rows), longest)) or run(rows, longest))
    np.testing.assert_allclose(embedder.embed(TEXTS), whole, atol=1e-5)
    assert len(passes) > 1
    assert all(rows == 1 or rows * longest <= budget for rows, longest in passes), passes
    assert [longest for _, longest in passes] == sorted(longest for _, longest in passes)  # shortest first


def test_a_long_text_is_not_padded_together_with_short_ones(graph_dir, monkeypatch):
    """A pass pads its texts to the longest: concurrent turns' short messages share one pass, and a long story
    among them runs its own instead of making every short one as dear as itself. Same vectors either way."""
    short = ["where is my order", "track my parcel", "cancel it please"]
    story = "I ordered a blender last month and it arrived with a cracked jug, so I would like to know what to do. " * 3
    texts = [short[0], story, *short[1:]]
    together = Embedder(backend="onnx", onnx_dir=graph_dir, cache_size=0, pass_padding=10_000).embed(texts)
    embedder = Embedder(backend="onnx", onnx_dir=graph_dir, cache_size=0, pass_padding=16)
    encoder = embedder._load()
    passes: list[tuple[int, int]] = []
    run = encoder._pass
    monkeypatch.setattr(encoder, "_pass",
                        lambda rows, longest: passes.append((len(rows), longest)) or run(rows, longest))
    np.testing.assert_allclose(embedder.embed(texts), together, atol=1e-5)
    assert [rows for rows, _ in passes] == [3, 1], passes  # the short ones together, the story alone
    padded = sum(rows * longest for rows, longest in passes)
    assert padded < len(texts) * passes[-1][1], "fewer padded word pieces than one pass of four at the story's length"
