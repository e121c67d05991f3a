"""The sentence-transformers model run by ONNX Runtime: one call per forward pass, the GIL released once.

Under torch, each of a pass's few hundred operators gives the GIL back and takes it again. Beside a busy event
loop every retake waits its turn: one short message took 590 ms instead of 14 (bench/bench_embed.py). ONNX
Runtime runs the whole graph in C++ in one call. The graph is exported once from the model's own weights (torch
and onnx, a few seconds, in a child process) into a cache folder that every later start reuses; it is the same
model, and its vectors match torch's to about 1e-7. Tokenising is the model's own `tokenizer.json` (Hugging Face tokenizers);
pooling and normalising are those the model folder declares, mean pooling and unit length.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import tempfile
import warnings
from pathlib import Path

import numpy as np

from knowledge.errors import KnowledgeConfigError
from knowledge.torch_hidden import TORCH_IMPORT

OPSET = 17
FORMAT = 1  # bump when the export below changes, so cached graphs of the old shape are not reused
INPUTS = ("input_ids", "attention_mask", "token_type_ids")
OUTPUT = "last_hidden_state"


def _read_json(path: Path) -> dict:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise KnowledgeConfigError(f"cannot read {path} of the embedding model: {exc}") from exc


def check_model_folder(model_path: Path) -> int:
    """The longest input in tokens; refuses a folder whose pooling this runner does not reproduce."""
    pooling = _read_json(model_path / "1_Pooling" / "config.json")
    modules = [m.get("type", "") for m in _read_json(model_path / "modules.json")]
    mean_only = pooling.get("pooling_mode_mean_tokens") and not any(
        value for key, value in pooling.items() if key.startswith("pooling_mode_") and key != "pooling_mode_mean_tokens")
    if not mean_only or not any(kind.endswith("Normalize") for kind in modules):
        raise KnowledgeConfigError(f"{model_path} is not a mean-pooled, normalised sentence model; "
                                   "set KNOWLEDGE_EMBEDDING_BACKEND=torch to run it")
    return int(_read_json(model_path / "sentence_bert_config.json").get("max_seq_length", 256))


def export_path(model_path: Path, cache_dir: Path) -> Path:
    """Where this model's graph is cached: named by the weights' file, size and time, so new weights export anew."""
    weights = next((p for p in (model_path / "model.safetensors", model_path / "pytorch_model.bin") if p.exists()),
                   None)
    if weights is None:
        raise KnowledgeConfigError(f"no model.safetensors or pytorch_model.bin in {model_path}")
    stat = weights.stat()
    key = f"{weights.resolve()}|{stat.st_size}|{stat.st_mtime_ns}|{OPSET}|{FORMAT}"
    return cache_dir / f"{model_path.name}-{hashlib.sha256(key.encode()).hexdigest()[:16]}.onnx"


def export(model_path: Path, target: Path) -> None:
    """Write the transformer's graph to `target` (atomically: instances starting together may race here)."""
    with TORCH_IMPORT:  # not while spaCy is imported with torch hidden
        import torch
    from transformers import AutoModel
    from transformers.utils import logging as transformers_logging

    transformers_logging.disable_progress_bar()

    class LastHiddenState(torch.nn.Module):
        def __init__(self, model: torch.nn.Module) -> None:
            super().__init__()
            self.model = model

        def forward(self, input_ids, attention_mask, token_type_ids):  # type: ignore[no-untyped-def]
            return self.model(input_ids=input_ids, attention_mask=attention_mask,
                              token_type_ids=token_type_ids).last_hidden_state

    model = LastHiddenState(AutoModel.from_pretrained(str(model_path)).eval())
    sample = torch.ones((1, 8), dtype=torch.int64)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, suffix=".onnx.tmp")
    os.close(fd)
    try:
        with warnings.catch_warnings():  # the TorchScript exporter's notes about indexing and its deprecation
            warnings.simplefilter("ignore")
            torch.onnx.export(model, (sample, sample, torch.zeros_like(sample)), tmp, input_names=list(INPUTS),
                              output_names=[OUTPUT], opset_version=OPSET, dynamo=False,
                              dynamic_axes={name: {0: "batch", 1: "tokens"} for name in (*INPUTS, OUTPUT)})
        os.chmod(tmp, 0o644)  # mkstemp's 0600 would hide it from the app's user when another user exported it
        os.replace(tmp, target)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def export_apart(model_path: Path, target: Path, timeout_s: float) -> None:
    """`export` in a child process. Once imported, torch and transformers stay resident (~400 MB): a serving
    process that exported at its first start peaked at ~1.2 GB under 100 chats instead of ~0.86 GB."""
    root = str(Path(__file__).resolve().parent.parent)  # the child imports this package from where it lies
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, (root, os.environ.get("PYTHONPATH"))))}
    # -P: the working directory's files never shadow this package or the libraries it imports.
    try:
        done = subprocess.run([sys.executable, "-P", "-m", __spec__.name, str(model_path), str(target)], env=env,
                              capture_output=True, text=True, check=False, timeout=timeout_s)
    except subprocess.TimeoutExpired:
        raise KnowledgeConfigError(f"exporting {model_path} to ONNX took over {timeout_s:.0f} s") from None
    if done.returncode != 0:
        said = done.stderr.strip().splitlines()
        raise KnowledgeConfigError(f"could not export {model_path} to ONNX (exit status {done.returncode}): "
                                   f"{said[-1] if said else 'no error output'}")  # the child's exception


class OnnxEncoder:
    """`encode(texts)` -> unit-length float32 vectors, as SentenceTransformer.encode(normalize_embeddings=True)."""

    def __init__(self, model_path: str, cache_dir: Path, threads: int, max_batch_tokens: int,
                 max_added_padding: int, export_timeout_s: float) -> None:
        import onnxruntime as ort
        from tokenizers import Tokenizer

        folder = Path(model_path)
        max_tokens = check_model_folder(folder)
        graph = export_path(folder, cache_dir)
        if not graph.exists():
            export_apart(folder, graph, export_timeout_s)
        self.tokenizer = Tokenizer.from_file(str(folder / "tokenizer.json"))
        self.tokenizer.enable_truncation(max_tokens)
        self.tokenizer.no_padding()  # each pass pads to its own longest text; padded positions are masked out
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads  # 0: one per core
        options.inter_op_num_threads = 1
        # ONNX Runtime's arena keeps the largest pass's memory for good (ingesting batches of long chunks): the
        # process grew by ~500 MB. Without it, and without planned buffers, memory goes back after each pass.
        options.enable_cpu_mem_arena = False
        options.enable_mem_pattern = False
        # Idle workers would spin between passes on the cores the event loop needs.
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        options.log_severity_level = 3  # warnings about unused initialisers are noise
        self.session = ort.InferenceSession(str(graph), options, providers=["CPUExecutionProvider"])
        self._inputs = [i.name for i in self.session.get_inputs()]
        self.dimension = int(self.session.get_outputs()[0].shape[-1])
        self.max_batch_tokens = max_batch_tokens
        self.max_added_padding = max_added_padding

    def encode(self, texts: list[str]) -> np.ndarray:
        encodings = self.tokenizer.encode_batch(texts)
        # A pass's memory grows with its texts times its longest text (squared, in attention): 64 chunks of 256 word
        # pieces took ~900 MB for a moment while ingesting. Texts of like length go together, in passes of at most
        # `max_batch_tokens` padded word pieces. A pass's cost follows its padded size too, so a text joins only
        # while the padding it adds to the texts already in it (padded up to its length) stays under
        # `max_added_padding`: a turn's short messages share one pass, a long story beside them runs its own.
        lengths = [len(e.ids) for e in encodings]
        order = sorted(range(len(texts)), key=lambda i: lengths[i])
        vectors = np.empty((len(texts), self.dimension), dtype=np.float32)
        start = 0
        while start < len(order):
            end = start + 1
            while (end < len(order) and (end + 1 - start) * lengths[order[end]] <= self.max_batch_tokens
                   and (end - start) * (lengths[order[end]] - lengths[order[end - 1]]) <= self.max_added_padding):
                end += 1
            rows = order[start:end]
            vectors[rows] = self._pass([encodings[i] for i in rows], lengths[order[end - 1]])
            start = end
        return vectors

    def _pass(self, encodings: list, longest: int) -> np.ndarray:
        feed = {name: np.zeros((len(encodings), longest), dtype=np.int64) for name in INPUTS}
        for row, e in enumerate(encodings):
            feed["input_ids"][row, :len(e.ids)] = e.ids
            feed["attention_mask"][row, :len(e.ids)] = e.attention_mask
            feed["token_type_ids"][row, :len(e.ids)] = e.type_ids
        (hidden,) = self.session.run([OUTPUT], {name: feed[name] for name in self._inputs})
        mask = feed["attention_mask"][..., None].astype(np.float32)
        pooled = (hidden * mask).sum(axis=1) / np.clip(mask.sum(axis=1), 1e-9, None)
        norms = np.clip(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12, None)
        return (pooled / norms).astype(np.float32)


if __name__ == "__main__":  # export_apart's child: python -m knowledge.onnx_model MODEL_FOLDER TARGET
    export(Path(sys.argv[1]), Path(sys.argv[2]))
