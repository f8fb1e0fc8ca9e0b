# The single entry point. `make run` and `make test` work on a fresh machine with only Python:
# each creates .venv and installs what it needs on first use.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
FILE ?= events/people.csv
PYTEST_ARGS ?=

.PHONY: help venv run test test-unit lint scan format build deploy clean email-preview

help:
	@echo "make run     - run the whole pipeline locally on $(FILE) (moto + Intercom sandbox)"
	@echo "make test    - run every test (unit, contract, static, integration, end-to-end)"
	@echo "make lint    - ruff, cfn-lint, mypy"
	@echo "make email-preview [OUT=DIR] - the summary email previews (needs chromium)"
	@echo "make scan    - security scans: checkov (template), bandit (code); see docs/security.md"
	@echo "make bench   - the benchmark (docs/benchmarks.md); make bench-faults: leads through Intercom faults;"
	@echo "               make bench-concurrent: two imports uploaded together"
	@echo "make build   - sam build (needs the AWS SAM CLI and python3.13)"
	@echo "make deploy  - sam deploy --guided"

# uv installs what pip would (the same versions, compiled to bytecode as pip does) in about half the time: 25 s
# against 45 s here, most of it unpacking and compiling some 13,000 files. pip does it if uv cannot be installed.
$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet uv && \
	  $(BIN)/uv pip install --quiet --python $(BIN)/python --compile-bytecode -e '.[dev]' || \
	  $(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

venv: $(STAMP)

run: $(STAMP)
	$(BIN)/intercom-import run $(FILE)

# The summary email's previews: an HTML file and a headless-Chromium screenshot per template (README: The summary email).
OUT ?= docs/email
email-preview: $(STAMP)
	$(BIN)/python -m email_preview $(OUT)

# Three workers on two cores: the end-to-end tests spend about a quarter of their time waiting on timers (visibility
# timeouts, search lags scaled to seconds), which a third worker fills (2 cores: 348 s with two, 308 s with three).
# Each test module (or shared stack) runs whole on one worker, heaviest first (tests/conftest.py).
# PYTEST_XDIST="" runs everything in this process.
PYTEST_XDIST ?= -n 3 --dist loadgroup --no-loadscope-reorder

test: $(STAMP)
	$(BIN)/python -m pytest $(PYTEST_XDIST) $(PYTEST_ARGS)

test-unit: $(STAMP)
	$(BIN)/python -m pytest -m "unit or static or contract" $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/cfn-lint template.yaml
	$(BIN)/python -m pytest -p no:cacheprovider -q tests/static/test_types.py

# The same checks `make test` runs (tests/static), on their own; every suppression is explained in docs/security.md.
scan: $(STAMP)
	$(BIN)/python -m pytest -p no:cacheprovider tests/static/test_security_scans.py tests/static/test_template_security.py $(PYTEST_ARGS)

format: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

build:
	sam build

deploy: build
	sam deploy --guided

clean:
	rm -rf $(VENV) .aws-sam .local .pytest_cache .ruff_cache .mypy_cache

# Benchmark (bench/run.py; results and the command go to docs/benchmarks.md). ~20 min by default:
# `make bench BENCH_ARGS="--sizes 10000 --naive-rows 2000"` for a shorter run, --help for every knob.
.PHONY: bench bench-smoke bench-faults bench-concurrent
BENCH_ARGS ?=

bench: $(STAMP)
	$(BIN)/python bench/run.py $(BENCH_ARGS)

bench-smoke: $(STAMP)
	$(BIN)/python bench/run.py --smoke

# Two 3,000-row imports uploaded together, five times (issue #15; ~4 min): only that section of docs/benchmarks.md.
bench-concurrent: $(STAMP)
	$(BIN)/python bench/run.py --sizes '' --naive-rows 0 --latency-rows 0 --validator-mb '' --reimport-rows 0 $(BENCH_ARGS)

# Leads through Intercom faults against the same import without faults (bench/lead_faults.py, ~1 min).
bench-faults: $(STAMP)
	$(BIN)/python bench/lead_faults.py $(BENCH_ARGS)
