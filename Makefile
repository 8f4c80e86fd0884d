# The README's two commands: `make run` (the main job) and `make test` (the tests).
# Each bootstraps its own virtual environment in .venv from nothing but python3.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
OUT ?= runs/default

.PHONY: run test lint bench clean venv

venv: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/tinybots run --out $(OUT)

test: $(STAMP)
	$(BIN)/python -m pytest tests
	$(BIN)/python -m pytest --nbval --nbval-current-env --nbval-sanitize-with tests/nbval_sanitize.cfg notebooks

lint: $(STAMP)
	$(BIN)/ruff check tinybots sim tests benchmarks notebooks

bench: $(STAMP)
	$(BIN)/python benchmarks/bench_tinybots.py
	$(BIN)/python benchmarks/bench_pipeline.py

clean:
	rm -rf $(VENV) runs .pytest_cache
