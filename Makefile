# mlwright: the two commands of the README, and the checks behind them.
PYTHON ?= python3
PIP ?= $(PYTHON) -m pip

.PHONY: install system-deps demo demo-ct test check format bench clean

install:  ## mlwright with every backend and the dev tools (torch CPU wheel from this machine's disk)
	$(PIP) install --quiet --disable-pip-version-check -e ".[dev,redis,torch,s3]"

system-deps:  ## Debian packages the tests start for real: Redis, Chromium, promtool, a container engine
	@missing=""; \
	command -v redis-server >/dev/null || missing="$$missing redis-server"; \
	command -v chromium >/dev/null || missing="$$missing chromium"; \
	command -v promtool >/dev/null || missing="$$missing prometheus"; \
	command -v dockerd >/dev/null || missing="$$missing docker.io"; \
	command -v debootstrap >/dev/null || missing="$$missing debootstrap"; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
	fi

demo: install  ## generate churn data, compile, run, serve, score, monitor
	$(PYTHON) pipelines/demo.py churn

demo-ct: install  ## the same for brain_ct, including the scanner upgrade that validation refuses
	$(PYTHON) pipelines/demo.py brain_ct

test: install system-deps  ## the whole suite, as CI runs it
	$(PYTHON) -m pytest -q -p no:cacheprovider

check: install  ## format, lint, types, layering, then the tests
	$(PYTHON) -m ruff format --check cli compiler runtime tests benchmarks pipelines
	$(PYTHON) -m ruff check cli compiler runtime tests benchmarks pipelines
	$(PYTHON) -m mypy
	$(MAKE) test

format:
	$(PYTHON) -m ruff format cli compiler runtime tests benchmarks pipelines
	$(PYTHON) -m ruff check --fix cli compiler runtime tests benchmarks pipelines

bench: install  ## benchmarks side by side with their peers; see BENCHMARKS.md
	for b in benchmarks/*.py; do $(PYTHON) $$b || exit 1; done

clean:
	rm -rf demo build .pytest_cache .ruff_cache .mypy_cache
