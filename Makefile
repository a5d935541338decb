# docbgm: `make demo` serves the demo study, `make test` runs the whole suite.
# Both install what they need and are idempotent: a second run skips every install step.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.docbgm-installed
SYSTEM_STAMP := var/.system-packages
export PYTHONUNBUFFERED := 1

.PHONY: demo test lint install system-packages worker clean-var bench bench-load bench-load-baseline

# Debian packages: libfluidsynth3 (rendering), fluidsynth (the CLI, for the rendering benchmark),
# chromium (browser tests), fonts-noto-cjk (legible Chinese pages in browser screenshots), and the
# General MIDI soundfonts the separation data is rendered with (timgm6mb-soundfont,
# fluid-soundfont-gm, musescore-general-soundfont, csound-soundfont). Installed with apt-get only when missing.
system-packages: $(SYSTEM_STAMP)
$(SYSTEM_STAMP):
	@missing=""; \
	ldconfig -p | grep -q 'libfluidsynth.so.3' || missing="$$missing libfluidsynth3"; \
	command -v fluidsynth >/dev/null || missing="$$missing fluidsynth"; \
	[ -x /usr/bin/chromium ] || missing="$$missing chromium"; \
	dpkg -s fonts-noto-cjk >/dev/null 2>&1 || missing="$$missing fonts-noto-cjk"; \
	for p in timgm6mb-soundfont fluid-soundfont-gm musescore-general-soundfont csound-soundfont; do \
		dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
		echo "Installing Debian packages:$$missing"; \
		SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
		$$SUDO apt-get update -q && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -q $$missing; \
	fi
	@mkdir -p var && touch $@

install: $(STAMP) $(SYSTEM_STAMP)
$(STAMP): pyproject.toml
	@[ -x $(PY) ] || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e ".[test,bench]"
	@touch $@

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

test: install
	$(VENV)/bin/pytest $(PYTEST_ARGS)

# The embedded default: SQLite in var/, a real Celery worker on the filesystem broker, the dev server.
# DEBUG is off, so the demo shows volunteers what production shows (no debug pages, static files
# through WhiteNoise); DOCBGM_DEMO=1 keeps plain http://127.0.0.1 working. `make demo DEMO_DEBUG=1`
# turns DEBUG on for development.
DEMO_DEBUG ?= 0
DEMO_ENV := DJANGO_DEBUG=$(DEMO_DEBUG) DOCBGM_DEMO=1
demo: install
	$(DEMO_ENV) $(PY) manage.py migrate --noinput
	$(DEMO_ENV) $(PY) manage.py seed_demo
	$(DEMO_ENV) $(PY) manage.py collectstatic --noinput -v 0
	@echo
	@echo "Starting a Celery worker (log: var/worker.log) and the web server."
	@echo "  Home:             http://127.0.0.1:8000/"
	@echo "  Volunteer link:   http://127.0.0.1:8000/s/demo/"
	@echo "  Researcher pages: http://127.0.0.1:8000/researcher/  (login: researcher / researcher)"
	@echo "  Admin:            http://127.0.0.1:8000/admin/        (same login)"
	@echo
	$(DEMO_ENV) $(VENV)/bin/celery -A docbgm_site worker --pool=solo --concurrency=1 --loglevel=INFO \
		--logfile=var/worker.log & worker=$$!; \
	trap "kill $$worker 2>/dev/null" EXIT INT TERM; \
	$(DEMO_ENV) $(PY) manage.py runserver 127.0.0.1:8000

# The load benchmark takes about 8 minutes per database, so `bench` leaves it to `bench-load`.
bench: install
	for f in benchmarks/bench_*.py; do [ $$f = benchmarks/bench_load.py ] && continue; \
		echo "== $$f"; $(PY) $$f || exit 1; done

# 1000 volunteers on gunicorn + PostgreSQL (and Redis), then 200 on the embedded SQLite default.
# BENCH_LOAD_ARGS="--volunteers 100 --rating-interval 5" runs a small one.
bench-load: install
	$(PY) benchmarks/bench_load.py $(BENCH_LOAD_ARGS)
	$(PY) benchmarks/bench_load.py --sqlite $(BENCH_LOAD_ARGS)

# The same scenario against the code before issue 14 (a temporary git worktree), for comparison.
BENCH_LOAD_BASELINE ?= 08cbef8
bench-load-baseline: install
	$(PY) benchmarks/bench_load.py --code $(BENCH_LOAD_BASELINE) $(BENCH_LOAD_ARGS)
