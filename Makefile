# The verbs: make run, make test, make lint, make bench.
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
# pyenv picks the version in .python-version (3.13); fall back to the newest 3.12+.
PYTHON ?= $(shell pyenv which python 2>/dev/null || command -v python3.13 || command -v python3.12 || command -v python3)
TEST_DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/portal
# Tests use their own Redis database, so a running `make run` (database 0) and a
# test run never consume each other's queues or routes.
TEST_REDIS_URL ?= redis://127.0.0.1:6379/9
PYTEST_ARGS ?=
# NO_BROWSER=1: no browser needed; the browser tests (tests/e2e) are left out.
NO_BROWSER ?=
# Benchmarks: their own PostgreSQL database (created if missing, emptied on every run).
BENCH_DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/portal_bench
BENCH_REDIS_URL ?= redis://127.0.0.1:6379/5
SCALE ?= 1
BENCH_ARGS ?=

.PHONY: run test lint format bench soak messages install clean prereqs-test prereqs-run

# scripts/prereqs.py stops with one line per missing thing before anything runs, and
# installs what it can (gettext, a browser) first.
$(VENV)/.installed: pyproject.toml
	@$(PYTHON) scripts/prereqs.py python
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test]'
	@touch $@

install: $(VENV)/.installed

# Compiled Danish/English catalogues (.mo) are built, not committed.
messages: install
	$(PY) manage.py compilemessages --ignore=.venv -v0

prereqs-test: install
	@$(PY) scripts/prereqs.py test --database $${DATABASE_URL:-$(TEST_DATABASE_URL)} \
		--redis $${REDIS_URL:-$(TEST_REDIS_URL)} $(if $(NO_BROWSER),--no-browser)

prereqs-run: install
	@$(PY) scripts/prereqs.py run --redis $${REDIS_URL:-redis://127.0.0.1:6379/0}

run: prereqs-run messages
	$(PY) manage.py migrate --noinput -v0
	$(PY) manage.py seed_demo
	$(PY) manage.py run_stack

test: prereqs-test messages
	DATABASE_URL=$${DATABASE_URL:-$(TEST_DATABASE_URL)} REDIS_URL=$${REDIS_URL:-$(TEST_REDIS_URL)} \
		$(PY) -m pytest $(if $(NO_BROWSER),-m "not e2e") $(PYTEST_ARGS)

# Our gateway and portal against the bare OCPP reference; writes benchmarks/results.json.
bench: messages
	BENCH_DATABASE_URL=$(BENCH_DATABASE_URL) BENCH_REDIS_URL=$(BENCH_REDIS_URL) \
		$(PY) -m benchmarks.run --scale $(SCALE) $(BENCH_ARGS)

# The long fault runs (tests marked soak): the whole stack as processes, parts killed.
soak: NO_BROWSER := 1
soak: prereqs-test messages
	DATABASE_URL=$${DATABASE_URL:-$(TEST_DATABASE_URL)} $(PY) -m pytest --soak -m soak $(PYTEST_ARGS)

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(PY) manage.py check
	$(PY) manage.py makemigrations --check --dry-run -v0

format: install
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

clean:
	rm -rf $(VENV) staticfiles .pytest_cache
