"""Converting a document loads spaCy without torch (thinc would import it: ~300 MB per process), and torch stays
importable afterwards for the torch embedding runner and the ONNX export."""

from __future__ import annotations

import subprocess
import sys

from tests.conftest import ROOT

SCRIPT = """
import sys
from knowledge.convert import convert

doc = convert(b"Returns\\n\\nYou can return an item within 30 days. Refunds take five days.", "returns.txt")
text = " ".join(e.text for e in doc.elements)
assert "30 days" in text and any(e.kind == "title" for e in doc.elements), doc.elements
import thinc.compat
print("torch loaded:", "torch" in sys.modules, "thinc sees torch:", thinc.compat.has_torch)
import torch
print("torch importable:", torch.ones(1).item() == 1.0)
"""


def test_converting_a_document_does_not_load_torch():
    result = subprocess.run([sys.executable, "-c", SCRIPT], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "torch loaded: False thinc sees torch: False" in result.stdout, result.stdout
    assert "torch importable: True" in result.stdout, result.stdout
