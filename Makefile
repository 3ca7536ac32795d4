# OneWindow — the two commands: `make run` and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
export ONEWINDOW_DATABASE_URL ?= sqlite:///./var/onewindow.db

.PHONY: run test install browser bench lint clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test,bench]'
	touch $(STAMP)

install: $(STAMP)

## make run: a fresh machine → virtualenv, install, demo data, server on http://127.0.0.1:8000
run: $(STAMP)
	$(BIN)/onewindow demo --host 127.0.0.1 --port 8000

## make test: the whole suite (PostgreSQL runs skip when no server answers, unless required)
test: $(STAMP)
	$(BIN)/ruff check src bench tests
	$(BIN)/pytest -n 2 -q

bench: $(STAMP)
	$(BIN)/python bench/filings.py

clean:
	rm -rf var .pytest_cache build dist src/*.egg-info
