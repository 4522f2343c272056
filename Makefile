# Sequence Builder — the two commands: `make run` and `make test`.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: run test pytest lint check-python clean serve migrate bench

check-python:
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 12) else 1)' || { \
	  echo "Sequence Builder needs Python 3.12 or newer; '$(PYTHON)' is $$($(PYTHON) --version 2>&1)."; \
	  echo "Install Python 3.12 (e.g. 'pyenv install 3.12') or run: make PYTHON=python3.12 run"; exit 1; }

$(BIN)/python: | check-python
	$(PYTHON) -m venv $(VENV)

# Reinstall only when the pinned requirements change.
$(VENV)/.installed: requirements.txt | $(BIN)/python
	$(BIN)/pip install --quiet -r requirements.txt
	touch $@

$(VENV)/.installed-dev: requirements.txt requirements-dev.txt | $(BIN)/python
	$(BIN)/pip install --quiet -r requirements-dev.txt
	touch $(VENV)/.installed $@

# Front-end packages, pinned in package-lock.json: SortableJS (served from node_modules/) and, as
# devDependencies (npm ci installs them unless NODE_ENV=production), ESLint for static/js/.
node_modules/.installed: package.json package-lock.json
	@command -v npm >/dev/null || { echo "Sequence Builder needs npm (Node 20) to install its front-end packages."; exit 1; }
	npm ci --ignore-scripts --no-audit --no-fund --loglevel=error
	touch $@

run: $(VENV)/.installed node_modules/.installed
	$(BIN)/python scripts/run.py

test: $(VENV)/.installed-dev node_modules/.installed
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	npm run --silent lint:js
	$(MAKE) --no-print-directory pytest

# The whole suite in two runs: the tests without a browser spread over the cores (pytest-xdist),
# then the browser tests one at a time (each drives Chromium against a live server: two at once
# on CI's 2 cores would only slow each other down). `make pytest PYTEST_ARGS=-q`.
pytest: $(VENV)/.installed-dev node_modules/.installed
	$(BIN)/pytest -m "not browser" -n auto $(PYTEST_ARGS)
	$(BIN)/pytest -m browser $(PYTEST_ARGS)

# Production: gunicorn with the production settings (DEBUG off: SECRET_KEY and ALLOWED_HOSTS
# must be set, see README "Deploying"); whitenoise serves the collected static files.
# `make serve WORKERS=4 THREADS=8`; `MIGRATE=no` on all but one of several app servers.
WORKERS ?= $(or $(WEB_CONCURRENCY),2)
THREADS ?= $(or $(GUNICORN_THREADS),4)
MIGRATE ?= yes

migrate: $(VENV)/.installed
	$(BIN)/python manage.py migrate --noinput

serve: $(VENV)/.installed node_modules/.installed
	$(BIN)/python manage.py check --deploy --fail-level ERROR
	$(BIN)/python manage.py collectstatic --noinput --verbosity 0
	@if [ "$(MIGRATE)" = yes ]; then $(BIN)/python manage.py migrate --noinput; fi
	WEB_CONCURRENCY=$(WORKERS) GUNICORN_THREADS=$(THREADS) \
	  $(BIN)/gunicorn --config gunicorn.conf.py sequence_builder.wsgi

# Seeds a realistic data set into temporary databases (SQLite and a temporary PostgreSQL) and
# prints page timings, query counts and a 20-editor load run. See BENCHMARKS.md.
# `make bench BROWSER=yes` also times clicks in headless Chromium (scripts/bench_browser.py,
# a few minutes more).
BROWSER ?= no
bench: $(VENV)/.installed-dev node_modules/.installed
	$(BIN)/python scripts/bench.py
	$(BIN)/python scripts/bench_audience.py
	@if [ "$(BROWSER)" = yes ]; then $(BIN)/python scripts/bench_browser.py; fi

clean:
	rm -rf $(VENV) node_modules staticfiles .pytest_cache .ruff_cache
