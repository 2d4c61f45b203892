# Switchboard: `make run` to try it, `make test` to check it.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: run test test-fast lint format install migrate demo bench clean messages

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

migrate: install
	$(PY) manage.py migrate --noinput

demo: migrate
	$(PY) manage.py load_demo_data

## Create .venv, install, migrate, collect static files, load the demo data and start
## everything (daphne and the provider sandbox every channel talks to; plus a Celery
## worker and beat when REDIS_URL is set).
run: demo
	$(PY) manage.py collectstatic --noinput --verbosity 0
	$(PY) manage.py serve

## The whole suite. With DATABASE_URL and REDIS_URL set it runs on PostgreSQL and Redis,
## with a real daphne, a real Celery worker and real Chromium for the browser tests.
test: install
	$(PY) manage.py collectstatic --noinput --verbosity 0
	CHANNEL_LAYER_PREFIX=$${CHANNEL_LAYER_PREFIX:-switchboard-test} $(PY) -m pytest $(PYTEST_ARGS)

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: install
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

## Extract the translatable text into locale/ (Spanish and Italian; English is the source)
## and compile it. Needs GNU gettext (apt-get install gettext). Commit the .po and .mo files.
messages: install
	$(PY) manage.py makemessages -l es -l it --no-obsolete --ignore=.venv --ignore=staticfiles --ignore=node_modules
	$(PY) manage.py compilemessages --ignore=.venv --ignore=staticfiles --ignore=node_modules

## Benchmarks against PostgreSQL and Redis (DATABASE_URL and REDIS_URL must be set; the data
## goes to its own database, switchboard_bench_<scale>). BENCH_SCALE=small: a tenth of it.
## Prints a table and writes bench/results.json; see bench/README.md.
bench: install
	$(PY) manage.py collectstatic --noinput --verbosity 0
	$(PY) bench/run.py

clean:
	rm -rf $(VENV) staticfiles .pytest_cache .ruff_cache
