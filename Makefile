# The two commands: `make demo` and `make test`. Everything they need is installed from here.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
PYTEST_WORKERS ?= auto

.PHONY: demo test lint format setup setup-dev system-deps node-deps locks bench bench-db bench-flags bench-cli bench-api bench-controllers bench-detection clean

## setup: the runtime environment in .venv, from the hashed lock
$(VENV)/.runtime: requirements.lock pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check --require-hashes -r requirements.lock
	$(BIN)/pip install --quiet --disable-pip-version-check --no-deps -e .
	touch $@

## setup-dev: add the tools of the test suite and of lint
$(VENV)/.dev: $(VENV)/.runtime requirements-dev.lock
	$(BIN)/pip install --quiet --disable-pip-version-check --require-hashes -r requirements-dev.lock
	touch $@

setup: $(VENV)/.runtime
setup-dev: $(VENV)/.dev

## node-deps: the Node programs the tests run (the Unleash Node SDK, an Unleash server, pm2), from
## their lock; install scripts stay off (none of what the tests use needs one)
NODE_DIR := tests/node
$(NODE_DIR)/node_modules/.installed: $(NODE_DIR)/package-lock.json
	npm ci --prefix $(NODE_DIR) --no-audit --no-fund --ignore-scripts --loglevel=error
	touch $@

node-deps: $(NODE_DIR)/node_modules/.installed

## system-deps: what the tests run for real (PostgreSQL 15, git)
system-deps:
	scripts/ensure-system-deps.sh

## demo: the runbook's application rollback on this machine, in under a minute
demo: $(VENV)/.runtime
	$(BIN)/backout quickstart

## lint: ruff, mypy --strict, import-linter's layer contracts
lint: $(VENV)/.dev
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks
	$(BIN)/mypy
	$(BIN)/lint-imports --no-cache

format: $(VENV)/.dev
	$(BIN)/ruff check --fix src tests benchmarks
	$(BIN)/ruff format src tests benchmarks

## test: install what is missing, lint, and run the whole suite
test: $(VENV)/.dev system-deps node-deps lint
	$(BIN)/pytest -n $(PYTEST_WORKERS) --durations=15

## locks: recompile the hashed pins after changing pyproject.toml's dependencies
locks: $(VENV)/.runtime
	$(BIN)/pip install --quiet --disable-pip-version-check uv
	$(BIN)/uv pip compile pyproject.toml --generate-hashes --python-version 3.11 -q -o requirements.lock
	$(BIN)/uv pip compile pyproject.toml --extra dev --generate-hashes --python-version 3.11 -q -o requirements-dev.lock

## bench: the speed goals, each printing one JSON object (db and flags need the dev tools)
bench: $(VENV)/.runtime
	$(BIN)/python benchmarks/rollback.py

bench-db: $(VENV)/.dev system-deps
	$(BIN)/python benchmarks/db_restore.py

bench-flags: $(VENV)/.dev
	$(BIN)/python benchmarks/flags.py

bench-cli: $(VENV)/.runtime
	$(BIN)/python benchmarks/cli.py

## bench-detection: a labelled set of healthy and bad releases, watched by the probe and by a real Prometheus
bench-detection: $(VENV)/.dev system-deps
	$(BIN)/python benchmarks/detection.py

## bench-controllers: three controllers on one PostgreSQL, kill -9 takeovers and a paused leader
bench-controllers: $(VENV)/.dev system-deps
	$(BIN)/python benchmarks/controllers.py

## bench-api: the API's reads under wrk (from Debian), beside a real unleash-server (Node, PostgreSQL)
bench-api: $(VENV)/.dev system-deps node-deps
	command -v wrk >/dev/null || (apt-get update -qq && apt-get install -y -qq wrk)
	$(BIN)/python benchmarks/api.py

## bench-pm2: the pm2 driver's version switch and status beside the raw pm2 commands (real pm2)
.PHONY: bench-pm2
bench-pm2: $(VENV)/.dev node-deps
	$(BIN)/python benchmarks/pm2.py

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
