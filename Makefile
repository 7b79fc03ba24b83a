# replearn: `make book` builds the HTML book, `make test` runs every check (see README.md).
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
NOTEBOOKS := $(sort $(wildcard book/[0-9][0-9]_*.ipynb))
NBVAL := $(BIN)/python -m pytest --nbval $(NOTEBOOKS) --nbval-current-env \
	--nbval-sanitize-with tests/nbval_sanitize.cfg --nbval-cell-timeout=1800 -p no:cacheprovider \
	--durations=15

.PHONY: install npm book format test test-unit test-notebooks test-browser test-slow notebooks chromium bench sweep compare clean

# Create the virtual environment if missing and install the project with its test tools.
$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	touch $(STAMP)

install: $(STAMP)

# The HTML book, rendered from the outputs stored in the notebooks, into _build/html.
# book-assets vendors MathJax from the npm registry (once; git-ignored), so that the built
# pages request nothing from other hosts, and checks the latent explorers' decoder files.
book: install npm
	$(BIN)/replearn book-assets
	$(BIN)/jupyter-book build . --builder html -W --keep-going
	@echo "book: open _build/html/index.html"

# Format the code cells of every notebook to 88 columns (ruff format; settings in
# pyproject.toml). Long strings and comments are not split: tests/test_notebook_format.py
# names them.
format: install
	$(BIN)/ruff format book/*.ipynb

# Everything: unit tests, every chapter under nbval, the book build and the browser tests.
test: install
	$(BIN)/python -m pytest tests -m "not browser and not slow" -p no:cacheprovider
	$(NBVAL)
	$(MAKE) book
	$(MAKE) test-browser

test-unit: install
	$(BIN)/python -m pytest tests -m "not browser and not slow" -p no:cacheprovider

test-notebooks: install
	$(NBVAL)

test-browser: install chromium
	$(BIN)/python -m pytest tests -m browser -p no:cacheprovider

test-slow: install
	$(BIN)/python -m pytest tests -m slow -p no:cacheprovider

# npm (Node.js) to vendor MathJax for the offline book (installed with apt-get when missing and we are root).
npm:
	@command -v npm >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    echo "installing Debian's npm to vendor MathJax for the offline book"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq npm >/dev/null; \
	  else \
	    echo "The book build needs npm once (to vendor MathJax): run 'sudo apt-get install npm' and retry." >&2; exit 1; \
	  fi; }

# Debian's Chromium for the browser tests (installed with apt-get when missing and we are root).
chromium:
	@command -v chromium >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    echo "installing Debian's chromium for the browser tests"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	  else \
	    echo "The browser tests need Chromium: run 'sudo apt-get install chromium' (Debian/Ubuntu) and retry." >&2; exit 1; \
	  fi; }

# Re-execute every chapter in order and store its outputs (NB=book/06_vae.ipynb for one).
notebooks: install
	$(BIN)/replearn notebooks $(if $(NB),$(NB),--all)

# Full-scale commands (slow; their outputs are committed under book/results/).
bench: install
	$(BIN)/replearn bench

sweep: install
	$(BIN)/replearn sweep sparse --seeds 3 --epochs 6 --train-subset 20000
	$(BIN)/replearn sweep generalisation

compare: install
	$(BIN)/replearn compare --scale full --seeds 3

clean:
	rm -rf _build .cache
