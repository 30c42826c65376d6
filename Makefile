# servicedesk-forms: the targets a newcomer needs. `make run` and `make test` set up everything.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
PORT   ?= 8000
# The desk's inbox on this machine: its notifications land in data/outbox, and pages that need JavaScript name it.
DESK   ?= servicedesk@localhost
# The locks (hashes of every file pip may install): what make run, make test, CI and the Lambda zip install.
LOCKS  := requirements/test.txt requirements/run.txt requirements/lambda.txt
UV_VERSION := 0.13.9
UV_COMPILE  = $(BIN)/uv pip compile pyproject.toml --universal --python-version 3.11 --generate-hashes --quiet \
              --custom-compile-command "make lock" $(if $(UPGRADE),--upgrade)

.PHONY: run test test-fast test-ahead test-edits build watch check lint typecheck lock-check lock package bench clean help

help:  ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed 's/:.*## /\t/'

run: $(VENV)/.run .site-tools  ## set up, build the site and serve site + API on http://127.0.0.1:$(PORT) (embedded storage)
	$(BIN)/python build.py --site-url http://127.0.0.1:$(PORT) --desk-email $(DESK)
	SDF_DESK_INBOX=$(DESK) SDF_AGENTS=$(DESK) $(BIN)/python -m handler.serve --port $(PORT)

test: $(VENV)/.test .tools  ## install what the tests need and run them all
	node --test tests/pages/js/
	$(BIN)/python -m pytest

# Two workers (pytest-xdist); property tests draw a tenth of their examples (HYPOTHESIS_PROFILE=fast); the zip and
# wheel builds (marked packaging) and schemathesis's pytest plugin, which no test uses, are left out.
test-fast: $(VENV)/.test .tools  ## the tests that need no local server or browser, in under a minute; make test runs them all
	HYPOTHESIS_PROFILE=fast $(BIN)/python -m pytest -m "not servers and not browser and not packaging" \
	  -n 2 --dist worksteal -p no:schemathesis -p no:cacheprovider -q

test-ahead: $(VENV)/.test .tools  ## the tests that need no local server or browser, with the clock a year ahead (faketime)
	faketime -f +400d $(BIN)/python -m pytest -m "not servers and not browser" -p no:cacheprovider

test-edits: $(VENV)/.test .tools  ## the same tests after each operator edit of schema/ (a service removed, renamed, reordered; a language, a service added)
	$(BIN)/python scripts/operator_edits.py

build: $(VENV)/.run .site-tools  ## build the static site into dist/site (API_URL=https://... to point it at a deployed API)
	$(BIN)/python build.py $(if $(API_URL),--api-url $(API_URL))

watch: $(VENV)/.run .site-tools  ## rebuild the site whenever schema/ or site/ changes
	$(BIN)/python build.py --watch

package: $(VENV)/.run  ## build dist/lambda.zip for AWS Lambda (python3.12/arm64); LAMBDA_PYTHON=python3.12 adds bytecode
	$(BIN)/python scripts/package_lambda.py $(if $(LAMBDA_PYTHON),--python $(LAMBDA_PYTHON))

bench: $(VENV)/.test .tools  ## Lambda cold import, warm latency, zip size, the AWS path and build time (docs/performance.md)
	$(BIN)/python bench/bench_lambda.py
	$(BIN)/python bench/bench_aws.py
	$(BIN)/python bench/bench_build.py
	$(BIN)/python bench/forwarding.py

lock: | $(VENV)/bin/python  ## regenerate the locks in requirements/ from pyproject.toml (UPGRADE=1: newest releases)
	$(BIN)/python -m pip install --quiet "uv==$(UV_VERSION)"
	$(UV_COMPILE) --extra test -o requirements/test.txt
	$(UV_COMPILE) --extra site --extra local --constraints requirements/test.txt -o requirements/run.txt
	$(UV_COMPILE) --constraints requirements/test.txt -o requirements/lambda.txt
	$(BIN)/python scripts/package_lambda.py --stamp-lock $(LOCKS)

check: lint typecheck lock-check  ## ruff, mypy, and the locks match pyproject.toml

lint: $(VENV)/.test
	$(BIN)/ruff check handler tests build.py site_build site_assets.py scripts bench
	$(BIN)/ruff format --check handler tests build.py site_build site_assets.py scripts bench

typecheck: $(VENV)/.test
	$(BIN)/mypy

lock-check: | $(VENV)/bin/python
	@for lock in $(LOCKS); do $(BIN)/python scripts/package_lambda.py --check-lock --lock $$lock || exit 1; done

clean:  ## remove the environment, built site and local data
	rm -rf $(VENV) dist data node_modules .tools .site-tools

$(VENV)/bin/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# Exactly the locked versions, each file checked against its hash, then the project itself (its own
# dependencies are in the lock already).
$(VENV)/.run: pyproject.toml requirements/run.txt | $(VENV)/bin/python
	$(BIN)/python -m pip install --quiet --require-hashes -r requirements/run.txt
	$(BIN)/python -m pip install --quiet --no-deps -e .
	touch $@

$(VENV)/.test: pyproject.toml requirements/test.txt | $(VENV)/bin/python
	$(BIN)/python -m pip install --quiet --require-hashes -r requirements/test.txt
	$(BIN)/python -m pip install --quiet --no-deps -e .
	touch $@

# esbuild, which bundles the site's scripts (package.json's one dependency): alone with --omit=dev, in a few
# seconds; with the test tools when they are installed already, so that npm ci keeps them.
.site-tools: package.json package-lock.json
	@command -v npm >/dev/null 2>&1 || { echo "error: npm is needed to build the site; install Node.js 20 or newer" >&2; exit 1; }
	npm ci $(if $(wildcard .tools),,--omit=dev) --no-audit --no-fund --loglevel=error
	touch $@

# Debian's Chromium for the browser tests and axe-core from npm; apt-get needs root (or sudo).
.tools: package.json package-lock.json scripts/install-test-tools.sh
	bash scripts/install-test-tools.sh
	touch $@ .site-tools
