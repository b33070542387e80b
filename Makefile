# Folio — the two commands a newcomer needs:
#   make demo   set up, draw the sample catalog, ingest it, serve the app on http://127.0.0.1:7860
#   make test   set up and run the test suite (what CI runs)

PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
SAMPLE := assets/sample/catalog.csv

.PHONY: setup sample ingest-sample demo test lint clean

setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $@

sample: setup
	$(PY) assets/make_sample_catalog.py

ingest-sample: sample
	$(PY) -m ingest $(SAMPLE)

demo: ingest-sample
	$(PY) app.py

lint: setup
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .

test: setup sample lint
	$(PY) -m pytest

clean:
	rm -rf .folio assets/sample/covers
