# OneWindow — the two commands: `make run` and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
export ONEWINDOW_DATABASE_URL ?= sqlite:///./var/onewindow.db

.PHONY: run test install browser messages bench lint clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test,bench]'
	touch $(STAMP)

install: $(STAMP)

## make run: a fresh machine → virtualenv, install, demo data, server on http://127.0.0.1:8000
run: $(STAMP)
	$(BIN)/onewindow demo --host 127.0.0.1 --port 8000

## make browser: Debian's Chromium and CJK fonts for the page tests and screenshots (Playwright drives
## /usr/bin/chromium; Playwright itself downloads nothing)
BROWSER_PACKAGES := chromium fonts-noto-cjk
browser:
	@if [ ! -x /usr/bin/chromium ] || [ ! -d /usr/share/fonts/opentype/noto ]; then \
	  if [ "$$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi; \
	  $$SUDO apt-get install -y $(BROWSER_PACKAGES) || { $$SUDO apt-get update && $$SUDO apt-get install -y $(BROWSER_PACKAGES); } \
	    || echo "make browser: could not install $(BROWSER_PACKAGES); the browser tests will skip"; \
	fi

## make messages: extract the pages' texts and update the catalogues (then translate the empty msgstr)
WEB := src/onewindow/web
messages: $(STAMP)
	$(BIN)/pybabel extract -F $(WEB)/babel.cfg -k Text -o $(WEB)/translations/messages.pot --no-location --sort-output \
	  --omit-header .
	$(BIN)/pybabel update -i $(WEB)/translations/messages.pot -d $(WEB)/translations -l zh --no-fuzzy-matching \
	  --ignore-obsolete --no-wrap

## make test: the whole suite (PostgreSQL runs skip when no server answers, unless required)
test: $(STAMP) browser
	$(BIN)/ruff check src bench tests
	$(BIN)/pytest -n 2 -q

bench: $(STAMP)
	$(BIN)/python bench/filings.py

clean:
	rm -rf var .pytest_cache build dist src/*.egg-info
