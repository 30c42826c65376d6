# servicedesk-forms: the targets a newcomer needs. `make run` and `make test` set up everything.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
PORT   ?= 8000

.PHONY: run test build watch check lint typecheck package bench clean help

help:  ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed 's/:.*## /\t/'

run: $(VENV)/.run  ## set up, build the site and serve site + API on http://127.0.0.1:$(PORT) (embedded storage)
	$(BIN)/python build.py --site-url http://127.0.0.1:$(PORT)
	$(BIN)/python -m handler.serve --port $(PORT)

test: $(VENV)/.test .tools  ## install what the tests need and run them all
	node --test tests/js/
	$(BIN)/python -m pytest

build: $(VENV)/.run  ## build the static site into dist/site (API_URL=https://... to point it at a deployed API)
	$(BIN)/python build.py $(if $(API_URL),--api-url $(API_URL))

watch: $(VENV)/.run  ## rebuild the site whenever schema/ or site/ changes
	$(BIN)/python build.py --watch

package: $(VENV)/.run  ## build dist/lambda.zip for AWS Lambda (python3.12/arm64); LAMBDA_PYTHON=python3.12 adds bytecode
	$(BIN)/python scripts/package_lambda.py $(if $(LAMBDA_PYTHON),--python $(LAMBDA_PYTHON))

bench: $(VENV)/.run  ## Lambda cold import, warm latency, zip size and build time (docs/performance.md)
	$(BIN)/python bench/bench_lambda.py
	$(BIN)/python bench/bench_build.py

check: lint typecheck  ## ruff and mypy

lint: $(VENV)/.test
	$(BIN)/ruff check handler tests build.py scripts bench
	$(BIN)/ruff format --check handler tests build.py scripts bench

typecheck: $(VENV)/.test
	$(BIN)/mypy

clean:  ## remove the environment, built site and local data
	rm -rf $(VENV) dist data node_modules .tools

$(VENV)/bin/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.run: pyproject.toml | $(VENV)/bin/python
	$(BIN)/python -m pip install --quiet -e ".[site,local]"
	touch $@

$(VENV)/.test: pyproject.toml | $(VENV)/bin/python
	$(BIN)/python -m pip install --quiet -e ".[test]"
	touch $@

# Debian's Chromium for the browser tests and axe-core from npm; apt-get needs root (or sudo).
.tools: package.json scripts/install-test-tools.sh
	bash scripts/install-test-tools.sh
	touch $@
