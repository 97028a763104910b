# Datamint — the README's two commands call `make run` and `make test`.
VENV   ?= .venv
PYTHON ?= python3
PY      = $(VENV)/bin/python
PIP     = $(PY) -m pip install --quiet --disable-pip-version-check
PORT   ?= 5000
DATA   ?=
# The suite runs in this many pytest-xdist processes, one test file per process at a time
# (docs/architecture.md, "Tests"); TEST_WORKERS=0 runs it in one process.
TEST_WORKERS ?= 2
PYTEST  = $(PY) -m pytest -q -n $(TEST_WORKERS) --dist loadfile

.PHONY: run test test-sqlite bench lint install-server install-dev official-client web ohif clean

# The web app (web/, Node 20 + npm) is built into the Python package, which serves it.
WEB_BUILT   = src/datamint/server/webapp/static/index.html
WEB_SOURCES = $(shell find web/src -type f 2>/dev/null) web/index.html web/vite.config.ts web/tsconfig.json

$(VENV)/bin/python:
	$(PYTHON) -m venv $(VENV)

$(VENV)/.server-installed: pyproject.toml | $(VENV)/bin/python
	$(PIP) -e '.[server,postgres,s3]'
	touch $@

# torch is pinned to the CPU build that lies on this machine's disk; it must come first.
$(VENV)/.dev-installed: pyproject.toml | $(VENV)/bin/python
	$(PIP) torch==2.13.0
	$(PIP) -e '.[all,dev]'
	touch $@ $(VENV)/.server-installed

# The official datamint client (for conformance tests), without its training stack.
.venv-official/.installed: tests/official-client-requirements.txt
	$(PYTHON) -m venv .venv-official
	.venv-official/bin/python -m pip install --quiet --disable-pip-version-check --no-deps datamint==2.45.0
	.venv-official/bin/python -m pip install --quiet --disable-pip-version-check -r tests/official-client-requirements.txt
	touch $@

web/node_modules/.package-lock.json: web/package.json web/package-lock.json
	cd web && npm ci --no-audit --no-fund --loglevel=error
	touch $@

$(WEB_BUILT): web/node_modules/.package-lock.json $(WEB_SOURCES)
	cd web && npm run --silent build -- --logLevel warn

## Build the web app into src/datamint/server/webapp/static (done by run, test and bench).
web: $(WEB_BUILT)

# OHIF Viewer's published build (npm's @ohif/app, a 50 MB download), served at /ohif/.
OHIF_BUILT = src/datamint/server/webapp/ohif/index.html
$(OHIF_BUILT): web/ohif/prepare.py web/ohif/app-config.js
	$(PYTHON) web/ohif/prepare.py --out src/datamint/server/webapp/ohif

## Fetch OHIF Viewer into src/datamint/server/webapp/ohif (done by run and test).
ohif: $(OHIF_BUILT)

official-client: .venv-official/.installed
install-server: $(VENV)/.server-installed
install-dev: $(VENV)/.dev-installed

## Start the platform on its embedded defaults (SQLite + a local data folder).
run: install-server web ohif
	$(VENV)/bin/datamint server run --port $(PORT) $(if $(DATA),--data-dir $(DATA),)

## Run the whole test suite against SQLite and the local PostgreSQL.
test: install-dev official-client web ohif
	$(PYTEST)

test-sqlite: install-dev official-client web ohif
	DATAMINT_TEST_BACKENDS=sqlite $(PYTEST)

bench: install-dev web
	@for script in benchmarks/*.py; do echo "== $$script"; $(PY) $$script || exit 1; done

lint: install-dev
	$(VENV)/bin/ruff check src tests benchmarks

clean:
	rm -rf $(VENV) .venv-official .pytest_cache .ruff_cache web/node_modules src/datamint/server/webapp/static src/datamint/server/webapp/ohif test-artifacts
