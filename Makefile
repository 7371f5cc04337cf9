# The README's two commands: `make run` (demo server on SQLite) and `make test` (the whole suite).
# Each creates its own virtualenv in .venv on first use; nothing else is needed.
# `make bench` (BENCHMARKS.md) needs PostgreSQL and Redis on localhost, and installs wrk if missing.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PORT ?= 8000
STAMP := $(VENV)/.installed

# The suite runs with DEBUG off, as production does: tests/settings.py (which pytest reads) supplies
# what a laptop lacks, so plain `pytest` works too.
TEST_SETTINGS := DJANGO_SETTINGS_MODULE=tests.settings

.PHONY: run test lint format bench clean

$(STAMP): requirements.txt requirements-dev.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements-dev.txt
	touch $(STAMP)

# A local .env with DEBUG on, so plain `manage.py ...` works in a demo checkout too (never committed).
.env:
	printf 'DEBUG=1\n' > .env

# The demo's webhooks may go to a receiver on this machine, over http.
DEMO_ENV := DEBUG=1 WEBHOOK_ALLOW_HTTP=1 WEBHOOK_ALLOW_PRIVATE_NETWORKS=1

# The worker (webhooks, offline detection, e-mails) runs beside the server and stops with it.
run: $(STAMP) .env
	DEBUG=1 $(BIN)/python manage.py migrate --noinput
	DEBUG=1 $(BIN)/python manage.py seed_demo --port $(PORT)
	$(DEMO_ENV) $(BIN)/python manage.py worker & worker=$$!; trap 'kill $$worker' EXIT INT TERM; \
	$(DEMO_ENV) $(BIN)/python manage.py runserver 127.0.0.1:$(PORT)

# Two processes (pytest-xdist), each with its own test database: the suite spends most of its time
# waiting on servers and subprocesses it starts. TEST_WORKERS=0 runs it in one process.
TEST_WORKERS ?= 2

test: $(STAMP)
	$(BIN)/python -m pytest -n $(TEST_WORKERS) --durations=15 $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports
	$(TEST_SETTINGS) $(BIN)/python manage.py makemigrations --check --dry-run

format: $(STAMP)
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

# Seeds its own database (corrosion_bench, dropped and created again), serves the app with
# gunicorn, loads it with wrk and prints one table; a few minutes. BENCH_ARGS="--help" for options.
bench: $(STAMP)
	$(BIN)/python -m bench $(BENCH_ARGS)

clean:
	rm -rf $(VENV) db.sqlite3 staticfiles test-artifacts bench/out
