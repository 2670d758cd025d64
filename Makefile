# Two commands a new user needs (README "Quick start"):
#   make run   - set everything up, run the seed's pipeline offline on the simulator
#   make test  - set everything up, run the test suite
# Everything else is for developers.

PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.perpml-installed

.PHONY: setup run test check lint format bench clean

$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

setup: $(STAMP)

run: setup
	$(PY) run_full_pipeline.py --symbol BTCUSDT --days 60 --features 50 --mock --out runs/quickstart --overwrite

test: setup
	$(PY) -m pytest -n 2 --dist loadfile -q

lint: setup
	$(VENV)/bin/ruff format --check src tests benchmarks run_full_pipeline.py
	$(VENV)/bin/ruff check src tests benchmarks run_full_pipeline.py

format: setup
	$(VENV)/bin/ruff format src tests benchmarks run_full_pipeline.py
	$(VENV)/bin/ruff check --fix src tests benchmarks run_full_pipeline.py

check: lint
	$(VENV)/bin/mypy src
	$(PY) -m pytest -n 2 --dist loadfile -q

bench: setup
	$(PY) benchmarks/run_all.py

clean:
	rm -rf $(VENV) build dist *.egg-info .pytest_cache .ruff_cache .mypy_cache .hypothesis
