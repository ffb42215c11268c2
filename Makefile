# mlwright: the two commands of the README, and the checks behind them.
#
# Everything runs in a virtual environment (VENV, default .venv), made here if it is
# missing, with pip upgraded inside it first: the stock pip of a new venv backtracks
# for an hour over boto3 releases, and Debian's own Python refuses system-wide installs.
# Every install goes through compiler/constraints.txt, the one list of exact versions mlwright
# is tested with; the serving image installs the same versions.
VENV ?= .venv
PYTHON := $(VENV)/bin/python
PIP := $(PYTHON) -m pip --disable-pip-version-check
INSTALL := $(PIP) install --progress-bar off -c compiler/constraints.txt
# Tools the tests start (hadolint, lint-imports, dvc, mlwright) come from the venv first.
export PATH := $(abspath $(VENV))/bin:$(PATH)

.PHONY: venv install install-dev system-deps demo demo-ct test check format bench soak constraints clean

venv: $(PYTHON)
$(PYTHON):
	python3 -m venv $(VENV)
	$(PIP) install --progress-bar off --upgrade "$$(grep '^pip==' compiler/constraints.txt)"

install: venv  ## mlwright itself: compile, run, serve (LightGBM)
	$(INSTALL) -e .

install-dev: venv  ## plus every backend the tests start (torch CPU, Redis, S3, GCS, Azure, Dask, Delta Lake, W&B) and the dev tools
	$(INSTALL) -e ".[dev,redis,torch,s3,gcs,azure,dask,delta,wandb]"

system-deps:  ## what the tests start for real: Redis, Chromium, promtool, a container engine (Debian), Azurite (npm)
	@missing=""; \
	command -v redis-server >/dev/null || missing="$$missing redis-server"; \
	command -v curl >/dev/null || missing="$$missing curl"; \
	command -v chromium >/dev/null || missing="$$missing chromium"; \
	command -v promtool >/dev/null || missing="$$missing prometheus"; \
	command -v dockerd >/dev/null || missing="$$missing docker.io"; \
	command -v debootstrap >/dev/null || missing="$$missing debootstrap"; \
	command -v npm >/dev/null || missing="$$missing npm"; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
	fi; \
	command -v azurite-blob >/dev/null || { echo "installing: azurite (npm)"; npm install -g --silent azurite@3 >/dev/null; }

demo: install  ## generate churn data, compile, run, serve, score, monitor
	$(PYTHON) pipelines/demo.py churn

demo-ct: venv  ## the same for brain_ct (PyTorch), including the scanner upgrade that validation refuses
	$(INSTALL) -e ".[torch]"
	$(PYTHON) pipelines/demo.py brain_ct

test: install-dev system-deps  ## the whole suite, as CI runs it
	$(PYTHON) -m pytest -q -p no:cacheprovider

soak: install-dev system-deps  ## the long reliability run: 20,000 fuzzed specs, every diff leaf, 2,000 schemathesis cases per operation
	MLWRIGHT_FUZZ_EXAMPLES=20000 MLWRIGHT_DIFF_ALL=1 MLWRIGHT_SCHEMATHESIS_EXAMPLES=2000 \
	  $(PYTHON) -m pytest -q -p no:cacheprovider tests/unit/test_spec_fuzz.py tests/e2e/test_diff_property.py \
	  tests/e2e/test_churn.py::test_schemathesis_finds_no_failure_in_the_served_contract tests/e2e/test_store_faults.py

check: install-dev  ## format, lint, types, layering, then the tests
	$(PYTHON) -m ruff format --check cli contract compiler runtime tests benchmarks pipelines
	$(PYTHON) -m ruff check cli contract compiler runtime tests benchmarks pipelines
	PYTHON=$(PYTHON) bash .ci/typecheck
	$(MAKE) test

format:
	$(PYTHON) -m ruff format cli contract compiler runtime tests benchmarks pipelines
	$(PYTHON) -m ruff check --fix cli contract compiler runtime tests benchmarks pipelines

bench: install-dev  ## benchmarks side by side with their peers; see BENCHMARKS.md
	for b in benchmarks/*.py; do $(PYTHON) $$b || exit 1; done

constraints:  ## re-resolve compiler/constraints.txt from pyproject.toml in a throwaway venv (review the diff)
	bash .ci/lock

clean:
	rm -rf demo build .pytest_cache .ruff_cache .mypy_cache
