# two-stage-posterior developer tasks.
#
#   make test     lint + format check + pytest (xdist, 2 workers, work stealing)
#   make demo     run `two-stage-posterior mechanism` (the exact two-parameter
#                 case; table, JSON and plots in build/mechanism), then
#                 `two-stage-posterior honest-qa` (the honest-QA experiment,
#                 defaults; tables, NetCDF files and plots in build/honest-qa)
#   make docs     execute the notebooks at full size (build/notebooks), then
#                 serve the documentation site (mkdocs serve)
#   make lint     ruff check + ruff format --check
#   make format   ruff format + ruff check --fix
#   make lock     regenerate requirements.lock (uv, Python 3.12, universal;
#                 LOCK_ARGS=--upgrade to bump all pins)
#   make clean    remove the venv and caches
#
# Interpreter: set PYTHON=/path/to/python3.12 to choose one explicitly;
# otherwise the first working Python >= 3.12 among python3.13, python3.12,
# python3 (on PATH) and ~/.pyenv/versions/3.1[2-9]*/bin/python3 is used.

SHELL := /bin/bash
.DEFAULT_GOAL := test

VENV   := .venv
VPY    := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
XDIST_WORKERS ?= 2
# extra args for `make lock`, e.g. LOCK_ARGS=--upgrade
LOCK_ARGS ?=

export PIP_DISABLE_PIP_VERSION_CHECK := 1

PY_CANDIDATES := python3.13 python3.12 python3 \
	$(wildcard $(HOME)/.pyenv/versions/3.1[2-9]*/bin/python3)

# Prints sys.executable of a candidate if it runs and is >= 3.12 (pyenv shims
# that fail, or old interpreters, print nothing).
PY_CHECK := import sys; sys.version_info >= (3, 12) or sys.exit(1); print(sys.executable)

ifdef PYTHON
_PY_SEARCH = $(shell '$(PYTHON)' -c '$(PY_CHECK)' 2>/dev/null)
else
_PY_SEARCH = $(shell for p in $(PY_CANDIDATES); do \
	"$$p" -c '$(PY_CHECK)' 2>/dev/null && break; done)
endif
# Evaluated lazily and only once (so `make clean` needs no interpreter).
PY = $(eval PY := $(firstword $(_PY_SEARCH)))$(PY)

NO_PY_MSG := two-stage-posterior needs Python >= 3.12; none found on PATH or in \
~/.pyenv; set PYTHON=/path/to/python3.12

.PHONY: test demo docs lint format lock clean venv

# (Re)create the venv and install the pinned lock + the project (editable)
# whenever requirements.lock or pyproject.toml change.
$(STAMP): requirements.lock pyproject.toml
	@if [ -z "$(PY)" ]; then \
		echo "error: $(NO_PY_MSG)" >&2; \
		$(if $(PYTHON),echo "       (PYTHON=$(PYTHON) is not a working Python >= 3.12)" >&2;) \
		exit 1; \
	fi
	@if [ -e $(VENV) ] && ! $(VPY) -c 'import sys; sys.exit(sys.version_info < (3, 12))' 2>/dev/null; then \
		echo "removing stale $(VENV) (not a working Python >= 3.12)"; rm -rf $(VENV); \
	fi
	@echo "using $(PY)"
	$(PY) -m venv $(VENV)
	@# uv, pinned in the lock, installs it in seconds where pip takes about
	@# 40 s; uv reads no pip configuration, so where it cannot reach the index
	@# pip installs the lock instead.
	$(VENV)/bin/pip install --quiet $$(grep '^uv==' requirements.lock)
	UV_HTTP_TIMEOUT=20 $(VENV)/bin/uv pip install --quiet --python $(VPY) -r requirements.lock \
		|| $(VENV)/bin/pip install -r requirements.lock
	$(VENV)/bin/pip install --quiet --no-deps -e .
	@touch $@

venv: $(STAMP)

# The suite starts about fifteen Python processes (two workers, the notebooks,
# the subprocess tests); each would compile ~2000 modules from source (5 s)
# where PYTHONDONTWRITEBYTECODE is set, so the bytecode is kept for this run.
test: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	env -u PYTHONDONTWRITEBYTECODE $(VPY) -m pytest -n $(XDIST_WORKERS) --dist worksteal

# A command refuses an --out folder that holds another run; folders of an
# earlier demo without a manifest (run.json) are cleared first.
demo: $(STAMP)
	@for d in build/mechanism build/honest-qa; do \
		if [ -d $$d ] && [ ! -f $$d/run.json ]; then rm -rf $$d; fi; done
	$(VENV)/bin/two-stage-posterior mechanism --json build/mechanism/mechanism.json
	$(VENV)/bin/two-stage-posterior honest-qa --out build/honest-qa

# Every notebook run at full size (its executed copy in build/notebooks, for
# Jupyter), then the site served at http://127.0.0.1:8000 with the notebooks
# as prose and code and the API from the docstrings.
docs: $(STAMP)
	$(VPY) -m ipykernel install --sys-prefix --name two-stage-posterior
	MPLBACKEND=Agg $(VPY) docs/hooks.py build/notebooks two-stage-posterior
	NO_MKDOCS_2_WARNING=1 $(VENV)/bin/mkdocs serve

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: $(STAMP)
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

# Compiles into a temp copy (uv keeps existing pins as preferences) and only
# replaces requirements.lock if it changed, so an unchanged lock does not
# trigger a venv re-install.
lock: $(STAMP)
	@tmp=$$(mktemp requirements.lock.XXXXXX) && trap 'rm -f "$$tmp"' EXIT && \
	cp requirements.lock "$$tmp" && \
	$(VENV)/bin/uv pip compile pyproject.toml --extra test \
		--python-version 3.12 --universal --quiet $(LOCK_ARGS) \
		--custom-compile-command "make lock" -o "$$tmp" && \
	if cmp -s "$$tmp" requirements.lock; then echo "requirements.lock unchanged"; \
	else cp "$$tmp" requirements.lock && echo "requirements.lock updated"; fi

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache build dist *.egg-info
	find . -path ./.git -prune -o -name __pycache__ -type d -prune -exec rm -rf {} +
