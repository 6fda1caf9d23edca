# srchain: `make demo` runs the local chain, `make test` runs the whole suite.
# Both bootstrap .venv from nothing (scripts/bootstrap.sh).
VENV   := .venv
STAMP  := $(VENV)/.installed
BIN    := $(VENV)/bin

.PHONY: all demo test lint unit bench clean model p4

all: test

$(STAMP): pyproject.toml setup.py requirements.lock scripts/bootstrap.sh proxy/srchain_proxy/_fastsr.c
	@scripts/bootstrap.sh

demo: $(STAMP)
	$(BIN)/srchain demo

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/lint-imports

test: $(STAMP) lint
	$(BIN)/pytest

bench: $(STAMP)
	@for b in bench/*.py; do echo "== $$b"; $(BIN)/python $$b || exit 1; done

p4: $(STAMP)
	p4/build

model: $(STAMP)
	$(BIN)/python -m srchain_vnfs.train

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache build
