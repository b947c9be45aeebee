# Two entry points (README): `make demo` and `make test`. Both set themselves up from a fresh clone.
PYTHON ?= python3
VENV   ?= .venv
BIN     = $(VENV)/bin
STAMP   = $(VENV)/.installed-stamp

.PHONY: demo test servers bench lint clean examples

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/intake-bot demo

# The test servers (Dovecot, PostgreSQL) and mail clients are Debian packages; the fixtures start them.
servers:
	@tools/install-test-servers

test: $(STAMP) servers
	$(BIN)/pytest -q

bench: $(STAMP)
	@for b in bench/*.py; do echo "== $$b"; $(BIN)/python $$b || exit 1; done

examples: $(STAMP)
	$(BIN)/python -m examples.build

clean:
	rm -rf var .pytest_cache .hypothesis
