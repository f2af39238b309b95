# tokenwire — every target bootstraps what it needs (.venv, dev deps, the native build).
# `make help` lists the targets.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
PY     := $(BIN)/python
STAMP  := $(VENV)/.deps-installed
NATIVE := $(VENV)/.native-built
RUST_SOURCES := $(shell find rust/tokenwire-core rust/tokenwire-py -name '*.rs' -o -name Cargo.toml 2>/dev/null) Cargo.toml Cargo.lock
PYTEST_ARGS ?=
# pytest runs with a throwaway redis-server on a free loopback port (installed if missing
# and possible; else the Redis tests skip, or fail under CI=true / TOKENWIRE_REQUIRE_REDIS=1).
WITH_REDIS := bash scripts/redis-test-server.sh run

.DEFAULT_GOAL := help
.PHONY: help install build-dev build-prod demo test test-native test-pure test-rust bench fuzz lint format clean

help: ## List the targets
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z_-]+:.*## / {printf "  \033[36m%-12s\033[0m %s\n", $$1, $$2}' $(MAKEFILE_LIST)

$(STAMP): requirements-dev.txt pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements-dev.txt
	touch $@

install: $(STAMP) ## Create .venv and install the dev dependencies

$(NATIVE): $(STAMP) $(RUST_SOURCES)
	VIRTUAL_ENV=$(abspath $(VENV)) $(BIN)/maturin develop --release --quiet
	touch $@

build-prod: $(NATIVE) ## Build the native extension (release, LTO) into .venv

build-dev: $(STAMP) ## Build the native extension without optimisation (fast compile)
	VIRTUAL_ENV=$(abspath $(VENV)) $(BIN)/maturin develop --quiet
	rm -f $(NATIVE)

demo: $(NATIVE) ## Run the main job end to end on the loopback default (no keys, no network)
	$(BIN)/tokenwire demo

test-rust: ## cargo test + clippy for the Rust crates
	cargo test --quiet --workspace
	cargo clippy --quiet --workspace --all-targets -- -D warnings

test-native: $(NATIVE) ## pytest on the native backend
	$(WITH_REDIS) $(PY) -m pytest -q -p no:cacheprovider $(PYTEST_ARGS)

test-pure: $(NATIVE) ## pytest with TOKENWIRE_PURE_PYTHON=1 (the reference twin)
	TOKENWIRE_PURE_PYTHON=1 $(WITH_REDIS) $(PY) -m pytest -q -p no:cacheprovider $(PYTEST_ARGS)

test: test-rust test-native test-pure ## Everything CI runs: cargo test, pytest on native and on pure

bench: $(NATIVE) ## Benchmarks (pytest-benchmark; ratios measured in one run)
	$(PY) -m pytest benches -q -p no:cacheprovider --benchmark-only --benchmark-columns=min,median,mean,ops --benchmark-sort=name

fuzz: $(NATIVE) ## Bounded fuzzing of the decoder, JSON parser and processor (FUZZ_SECONDS, default 60)
	bash rust/fuzz/run.sh $${FUZZ_SECONDS:-60}

lint: $(NATIVE) ## ruff, pyright, mypy, stubtest of _native.pyi, cargo fmt --check, clippy
	$(BIN)/ruff check python tests benches
	$(BIN)/ruff format --check python tests benches
	$(BIN)/pyright
	$(BIN)/mypy
	$(PY) -m mypy.stubtest tokenwire._native --allowlist stubtest-allowlist.txt
	cargo fmt --all -- --check
	cargo clippy --quiet --workspace --all-targets -- -D warnings

format: $(STAMP) ## Format Python and Rust sources
	$(BIN)/ruff check --fix python tests benches
	$(BIN)/ruff format python tests benches
	cargo fmt --all

clean: ## Remove build products and the venv
	rm -rf $(VENV) target
