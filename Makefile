# Two commands do all the set-up on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

# The oldest Airflow this provider supports, in its own environment (not part of `make test`).
OLDEST_VENV := .venv-airflow-3.1
OLDEST_STAMP := $(OLDEST_VENV)/.installed

.PHONY: demo test test-oldest-airflow lint bench clean

# Recipe of a stamp file `<venv>/.installed`: create <venv>, install the lock file named as the stamp's
# first prerequisite, then this project without touching the pinned versions.
define install_venv
test -x $(@D)/bin/python || $(PYTHON) -m venv $(@D)
$(@D)/bin/python -m pip install --quiet --upgrade "pip>=24"
$(@D)/bin/python -m pip install --quiet -r $<
$(@D)/bin/python -m pip install --quiet --no-deps --no-build-isolation -e .
touch $@
endef

$(STAMP): requirements/lock.txt pyproject.toml
	$(install_venv)

demo: $(STAMP)
	$(BIN)/python scripts/demo.py

test: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/python -m pytest

$(OLDEST_STAMP): requirements/lock-airflow-3.1.txt pyproject.toml
	$(install_venv)

test-oldest-airflow: $(OLDEST_STAMP)
	$(OLDEST_VENV)/bin/python -m pytest

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

bench: $(STAMP)
	$(BIN)/python benchmarks/push_throughput.py

clean:
	rm -rf $(VENV) $(OLDEST_VENV) .demo .pytest_cache
