"""Package directions: the import-linter contracts in pyproject.toml hold, and they catch the old mistakes.

`make test` runs `lint-imports` itself; here each forbidden import of the old layout is put back into a
copy of the packages, and the contracts must refuse it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT

LINT = Path(sys.executable).parent / "lint-imports"
PACKAGES = ("agent", "tools", "knowledge")


def lint(root: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(root)}  # the copy, not the installed checkout
    return subprocess.run([str(LINT), "--no-cache", str(root / "pyproject.toml")], cwd=root, env=env,
                          capture_output=True, text=True, timeout=300)


def test_the_contracts_hold():
    result = lint(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


@pytest.fixture(scope="module")
def copy(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("layout")
    for package in PACKAGES:
        shutil.copytree(ROOT / package, root / package, ignore=shutil.ignore_patterns("__pycache__", "docs", "eval"))
    shutil.copy(ROOT / "pyproject.toml", root / "pyproject.toml")
    return root


OLD_MISTAKES = {
    "tools imported agent for its settings": ("tools/registry.py", "from agent.settings import Settings",
                                              "The agent uses the tools"),
    "the store imported the chat history's plumbing": ("tools/store/db.py", "import agent.datalayer.db",
                                                       "The agent uses the tools"),
    "the knowledge CLI imported the app's factory": ("knowledge/__main__.py", "import agent.factory",
                                                     "The agent uses the tools"),
    "two flows called each other": ("agent/offline/flows/pending.py", "import agent.offline.flows.delivered",
                                    "No import circles", ("agent/offline/flows/delivered.py",
                                                          "import agent.offline.flows.pending")),
    "the runner imported Chainlit": ("agent/runner/orchestrator.py", "import chainlit",
                                     "Only the web adapter imports Chainlit"),
    "the chat service imported the web adapter": ("agent/chat/service.py", "import agent.web.render",
                                                  "Inside agent"),
    "the engine imported openai": ("agent/offline/engine.py", "import openai", "Only the OpenAI-compatible adapter"),
    "the runner made its own HTTP calls to a model": ("agent/runner/orchestrator.py", "import aiohttp",
                                                     "Only the OpenAI-compatible adapter"),
}


@pytest.mark.parametrize("mistake", sorted(OLD_MISTAKES))
def test_the_contracts_refuse_the_old_imports(copy, mistake):
    path, line, contract, *more = OLD_MISTAKES[mistake]
    edits = [(path, line), *more]
    originals = {path: (copy / path).read_text() for path, _ in edits}
    for path, line in edits:
        (copy / path).write_text(originals[path] + f"\n{line}  # put back by the test\n")
    try:
        result = lint(copy)
    finally:
        for path, text in originals.items():
            (copy / path).write_text(text)
    assert result.returncode != 0, f"{mistake}: not refused\n{result.stdout}"
    broken = result.stdout[result.stdout.index("Broken contracts"):]
    assert contract in broken, broken


def test_the_service_runs_without_chainlit():
    code = "import sys, agent.chat.service, agent.factory; sys.exit('chainlit' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], cwd=ROOT).returncode == 0
