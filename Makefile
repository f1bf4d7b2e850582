# The two commands: `make run` (chat UI on http://127.0.0.1:8000) and `make test` (the whole suite).
# While developing, `make check` is the fast lane: lint, types and the tests that need neither
# PostgreSQL nor a model (under a minute).
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin

SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: run test check lint install install-dev browser lock bench clean

run: $(VENV)/.runtime
	$(BIN)/radassist serve

test: $(VENV)/.dev browser
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/python -m pytest

FAST_TESTS := not postgres and not gguf and not minilm and not browser and not slow

check: $(VENV)/.dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/python -m pytest -q -m "$(FAST_TESTS)"

# The browser tests drive Debian's Chromium (Playwright cannot download its own browser here).
browser:
	@command -v chromium >/dev/null 2>&1 || { \
		echo "installing Debian chromium for the browser tests"; \
		$(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq chromium; }

install: $(VENV)/.runtime
install-dev: $(VENV)/.dev

$(VENV)/bin/python:
	$(PYTHON) -m venv $(VENV)

# Installing is independent of the machine's pip and of what the index serves today:
# 1. the stock pip installs only requirements-build.lock (a pinned pip, setuptools and the build
#    backend of llama-cpp-python, the one package compiled from source), hash-checked, --no-deps;
# 2. that pinned pip installs the lock with --no-deps: the lock lists every package, so nothing is
#    resolved against the index (pip 23 resolved litellm's httpx[http2] to a newer, unpinned httpx);
#    --no-build-isolation builds the sdist with the pinned backend instead of the index's newest;
# 3. pip check proves the lock is complete and consistent.
PIP_INSTALL := $(BIN)/python -m pip install --quiet --require-hashes --no-deps

$(VENV)/.build: requirements-build.lock | $(VENV)/bin/python
	$(PIP_INSTALL) -r requirements-build.lock
	touch $@

$(VENV)/.runtime: requirements.lock pyproject.toml $(VENV)/.build
	$(PIP_INSTALL) --no-build-isolation -r requirements.lock
	$(BIN)/python -m pip install --quiet --no-deps --no-build-isolation -e .
	$(BIN)/python -m pip check
	touch $@

$(VENV)/.dev: requirements-dev.lock pyproject.toml $(VENV)/.build
	$(PIP_INSTALL) --no-build-isolation -r requirements-dev.lock
	$(BIN)/python -m pip install --quiet --no-deps --no-build-isolation -e .
	$(BIN)/python -m pip check
	touch $(VENV)/.runtime $@

# Regenerate the locks after changing dependencies in pyproject.toml or requirements-build.in.
lock: $(VENV)/.build
	$(BIN)/python -m pip install --quiet pip-tools
	$(BIN)/pip-compile --quiet --generate-hashes --allow-unsafe --strip-extras \
		-o requirements-build.lock requirements-build.in
	$(BIN)/pip-compile --quiet --generate-hashes --strip-extras --allow-unsafe -o requirements.lock pyproject.toml
	cp requirements.lock requirements-dev.lock
	$(BIN)/pip-compile --quiet --generate-hashes --strip-extras --allow-unsafe --extra dev \
		-o requirements-dev.lock pyproject.toml
	sed -i '/^--extra-index-url/d' requirements-build.lock requirements.lock requirements-dev.lock

bench: $(VENV)/.dev
	for script in bench/*.py; do $(BIN)/python $$script || exit 1; done

clean:
	rm -rf $(VENV)
