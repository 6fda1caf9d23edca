# srchain: `make demo` runs the local chain, `make test` runs the whole suite.
# Both bootstrap .venv from nothing (scripts/bootstrap.sh).
VENV   := .venv
STAMP  := $(VENV)/.installed
BIN    := $(VENV)/bin

.PHONY: all demo test lint typecheck unit bench clean model p4

all: test

$(STAMP): pyproject.toml setup.py requirements.lock scripts/bootstrap.sh proxy/srchain_proxy/_fastsr.c
	@scripts/bootstrap.sh

demo: $(STAMP)
	$(BIN)/srchain demo

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/lint-imports

# mypy over every room (pyproject [tool.mypy]: strict on srchain, srchain_contracts, srchain_net).
typecheck: $(STAMP)
	$(BIN)/mypy

test: $(STAMP) lint typecheck
	$(BIN)/pytest

bench: $(STAMP)
	@for b in bench/*.py; do echo "== $$b"; $(BIN)/python $$b || exit 1; done

p4: $(STAMP)
	p4/build

model: $(STAMP)
	$(BIN)/python -m srchain_vnfs.train

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .mypy_cache build
