VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test chaos lint bench screenshots clean

run: $(STAMP)
	$(BIN)/tocsin up

test: $(STAMP)
	$(BIN)/pytest

# The chaos tests alone (they also run in `make test`), the soak at its full 10 minutes.
chaos: $(STAMP)
	TOCSIN_SOAK_SECONDS=600 $(BIN)/pytest tests/chaos

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy .

# PNGs of the main UI pages into docs/screenshots/ (needs /usr/bin/chromium).
screenshots: $(STAMP)
	TOCSIN_SCREENSHOTS=1 $(BIN)/pytest -q tests/ui/test_screenshots.py -rs

bench: $(STAMP)
	$(BIN)/python -m bench --write-docs

$(STAMP): pyproject.toml
	python3 -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

clean:
	rm -rf $(VENV) .tocsin
