# README's two commands: `make run` (the bundled study end to end) and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
OUT    ?= out

.PHONY: run test test-fast bench clean lint

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# Stamp files: reinstall only when pyproject.toml changes.
$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e .
	touch $@

$(VENV)/.installed-test: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e ".[test]"
	touch $@ $(VENV)/.installed

run: $(VENV)/.installed
	$(BIN)/cdiscgen run --out $(OUT)

lint: $(VENV)/.installed-test
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

test: lint
	$(BIN)/python -m pytest -q -n auto --durations=15

# The inner loop: every test but the `slow` ones (whole runs and studies); `make test` runs them all.
test-fast: $(VENV)/.installed-test
	$(BIN)/python -m pytest -q -n auto -m "not slow" --durations=10

bench: $(VENV)/.installed-test
	$(BIN)/python benchmarks/simulate.py
	$(BIN)/python benchmarks/xpt_write.py

clean:
	rm -rf $(OUT) build dist .pytest_cache .ruff_cache
