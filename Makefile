# `make run` and `make test` set everything up on a fresh machine (Python 3.11, Node 20, Java 17).
SHELL := bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV ?= .venv
PY := $(VENV)/bin/python
export PY
PYTEST_ARGS ?=

PY_STAMP := $(VENV)/.requirements.stamp
# npm writes node_modules/.package-lock.json on every install: it is the stamp.
NODE_STAMP := node_modules/.package-lock.json

.PHONY: help setup run lint test test-faults bench clean-local browser scan scan-setup advisories

## help: list the targets
help:
	@grep -hE '^## ' $(MAKEFILE_LIST) | sed 's/^## /  /'

$(PY):
	$(PYTHON) -m venv $(VENV)

# pip runs again only when a requirements file or pyproject.toml changed since the last successful install.
# `pip install -e .` puts the `incentives` CLI (incentives_cli/) into the venv, editable: it runs this checkout.
$(PY_STAMP): requirements-dev.txt layers/deps/requirements.txt pyproject.toml | $(PY)
	$(PY) -m pip install --quiet -r requirements-dev.txt
	$(PY) -m pip install --quiet --no-deps -e .
	touch $@

# npm ci runs again only when package.json or the lock file changed.
$(NODE_STAMP): package.json package-lock.json
	npm ci --no-audit --no-fund
	touch $@

## setup: create .venv (pip install -r requirements-dev.txt, the `incentives` CLI) and node_modules (npm ci), only when needed
setup: $(PY_STAMP) $(NODE_STAMP)

INFRA_SETUP := setup
-include make/infra.mk

## run: serve the engine on http://127.0.0.1:$$PORT (3000) with DynamoDB Local; Ctrl-C stops everything
run: setup
	exec $(PY) -m local.run

# ruff reads every Python tree of the repository; mypy reads its files (layers/, functions/) from pyproject.toml.
LINT_PATHS := $(wildcard layers functions local infra bench tests tools incentives_cli app.py)

## lint: ruff over the repository and mypy over layers/ and functions/ (settings in pyproject.toml); make test runs it first
lint: $(PY_STAMP)
	@rc=0; \
	echo "ruff check $(LINT_PATHS)"; $(VENV)/bin/ruff check $(LINT_PATHS) || rc=1; \
	echo "mypy (layers/core/python/incentives, functions)"; $(VENV)/bin/mypy || rc=1; \
	exit $$rc

# checkov pins an older boto3 than the engine's: it gets its own venv, used by tests/infra/test_scanners.py.
CHECKOV_VENV := .venv-checkov
CHECKOV_STAMP := $(CHECKOV_VENV)/.requirements.stamp
BANDIT_PATHS := $(wildcard layers functions local infra tools bench incentives_cli app.py)

$(CHECKOV_STAMP): requirements-checkov.txt
	$(PYTHON) -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/pip install --quiet -r requirements-checkov.txt
	touch $@

## scan-setup: checkov in its own venv (.venv-checkov), only when needed
scan-setup: $(CHECKOV_STAMP)

## scan: bandit (.bandit.yaml) and the dependency audit (tools/audit_deps.py: pip-audit, or where its service is unreachable the offline audit against security/advisories.json, naming the snapshot's date); checkov runs in tests/infra/test_scanners.py
scan: setup scan-setup
	$(VENV)/bin/bandit -q -c .bandit.yaml -r $(BANDIT_PATHS)
	$(PY) -m tools.audit_deps

## advisories: refresh security/advisories.json from a snapshot of the PyPA advisory database (ADVISORY_DB=<git or OSV directory>)
advisories: $(PY_STAMP)
	$(PY) -m tools.advisories refresh $(if $(ADVISORY_DB),--source $(ADVISORY_DB))

## test: lint, the scanners, the browser for the browser tests, then the whole test suite (pytest; extra arguments in PYTEST_ARGS, e.g. PYTEST_ARGS="-n0 -k redeem")
test: setup browser lint scan
	@rc=0; $(PY) -m pytest $(PYTEST_ARGS) || rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "make test: pytest collected no tests (exit 5)" >&2; fi; \
	exit $$rc

FAULTS ?= rate=0.1,seed=2

## test-faults: the concurrency tests (pytest -m concurrency) with DynamoDB faults injected on their client threads (FAULTS="rate=0.1,seed=2[,kinds=...][,ops=...]"); the summary counts the faults, 503s and 500s
test-faults: $(PY_STAMP)
	$(PY) -m pytest -m concurrency --dynamodb-faults=$(FAULTS) $(PYTEST_ARGS) tests/integration

## browser: Debian's chromium + chromium-driver for the browser tests (apt-get, only when missing)
browser:
	sh make/browser.sh

## bench: the benchmarks (python -m bench; see docs/benchmarks.md)
bench: setup
	$(PY) -m bench

## clean-local: delete the local DynamoDB data (.local/)
clean-local:
	rm -rf .local
