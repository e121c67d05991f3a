"""Layering rules: Chainlit and vendor SDKs stay in their adapters."""

from __future__ import annotations

import ast

import pytest

from tests.conftest import ROOT

PACKAGES = ("agent", "tools", "knowledge")
ALLOWED = {
    "chainlit": {"app.py", "agent/web/chainlit_ui.py", "agent/web/datalayer.py", "agent/users.py"},
    "openai": {"agent/models/openai_compat.py"},
    "chromadb": {"knowledge/chroma_store.py"},
    "redis": {"agent/sessions/redis_store.py"},
}


def imported_modules(path) -> set[str]:
    tree = ast.parse(path.read_text())
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


def source_files():
    files = [ROOT / "app.py"]
    for package in PACKAGES:
        files += sorted((ROOT / package).rglob("*.py"))
    return files


@pytest.mark.parametrize("sdk", sorted(ALLOWED))
def test_vendor_sdks_are_imported_only_by_their_adapters(sdk):
    offenders = {
        str(path.relative_to(ROOT)) for path in source_files() if sdk in imported_modules(path)
    } - ALLOWED[sdk]
    assert not offenders, f"{sdk} imported outside its adapter: {sorted(offenders)}"


def test_the_orchestrator_runs_without_chainlit():
    import subprocess
    import sys

    code = "import sys, agent.runner.orchestrator, agent.factory; sys.exit('chainlit' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], cwd=ROOT).returncode == 0
