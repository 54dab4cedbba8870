# Two commands do all the set-up on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

# The oldest Airflow this provider supports, in its own environment (not part of `make test`).
OLDEST_VENV := .venv-airflow-3.1
OLDEST_STAMP := $(OLDEST_VENV)/.installed

.PHONY: demo test test-oldest-airflow lint bench clean

$(STAMP): requirements/lock.txt pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade "pip>=24"
	$(BIN)/python -m pip install --quiet -r requirements/lock.txt
	$(BIN)/python -m pip install --quiet --no-deps --no-build-isolation -e .
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/python scripts/demo.py

test: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/python -m pytest

$(OLDEST_STAMP): requirements/lock-airflow-3.1.txt pyproject.toml
	test -x $(OLDEST_VENV)/bin/python || $(PYTHON) -m venv $(OLDEST_VENV)
	$(OLDEST_VENV)/bin/python -m pip install --quiet --upgrade "pip>=24"
	$(OLDEST_VENV)/bin/python -m pip install --quiet -r requirements/lock-airflow-3.1.txt
	$(OLDEST_VENV)/bin/python -m pip install --quiet --no-deps --no-build-isolation -e .
	touch $(OLDEST_STAMP)

test-oldest-airflow: $(OLDEST_STAMP)
	$(OLDEST_VENV)/bin/python -m pytest

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

bench: $(STAMP)
	$(BIN)/python benchmarks/push_throughput.py

clean:
	rm -rf $(VENV) $(OLDEST_VENV) .demo .pytest_cache
