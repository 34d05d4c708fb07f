# kimg — the two commands a fresh machine needs are `make demo` and `make test`.
#
# libtorch comes from PyPI's torch $(TORCH_VERSION) (the version tch 0.26 is built against),
# installed once into the project venv `.venv`; `.venv/libtorch` links to its `torch/` folder and
# `.cargo/config.toml` points LIBTORCH there. Set LIBTORCH yourself to use another libtorch.

TORCH_VERSION := 2.13.0
PYTHON ?= python3
VENV := .venv
TORCH_STAMP := $(VENV)/.torch-$(TORCH_VERSION)
CARGO ?= cargo
# The dev profile optimises dependencies fully (Cargo.toml); the tensor math runs in libtorch, so the
# demo shares the test build instead of compiling everything a second time in release mode.
KIMG := target/debug/kimg

ifeq ($(origin LIBTORCH), environment)
SETUP_DEPS :=
else
SETUP_DEPS := $(TORCH_STAMP)
export LIBTORCH := $(CURDIR)/$(VENV)/libtorch
endif
export LIBTORCH_CXX11_ABI := 1

DEMO_DATA := data/fashion-mnist-32.zip

.PHONY: setup build demo test bench slurm-up slurm-down

## setup: install libtorch into the project venv (idempotent; skipped when LIBTORCH is set).
setup: $(SETUP_DEPS)

$(TORCH_STAMP):
	@test -x $(VENV)/bin/python || $(PYTHON) -m venv $(VENV)
	$(VENV)/bin/python -m pip install --disable-pip-version-check -q torch==$(TORCH_VERSION)
	ln -sfn "$$($(VENV)/bin/python -c 'import os, torch; print(os.path.dirname(torch.__file__))')" $(VENV)/libtorch
	@touch $@

## build: the kimg binary.
build: setup
	$(CARGO) build --locked --bin kimg

## demo: train the quickstart manifest on the bundled Fashion-MNIST subset (CPU or GPU, ~10 min on
## two CPU cores); results in runs/quickstart/<id>-…/ (fakes*.png, stats.jsonl, snapshots).
demo: build $(DEMO_DATA)
	$(KIMG) doctor
	$(KIMG) show experiments/quickstart.toml
	$(KIMG) train --manifest experiments/quickstart.toml --outdir runs/quickstart

$(DEMO_DATA): data/fashion-mnist/train-images-idx3-ubyte.gz data/fashion-mnist/train-labels-idx1-ubyte.gz | build
	$(KIMG) dataset create --source $< --dest $@

## test: formatting, lints and the whole test suite, exactly as CI runs them.
test: setup
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --locked --all-targets -- -D warnings
	$(CARGO) test --locked --all-targets

## bench: the benchmarks recorded in BENCHMARKS.md.
# A single-node Slurm cluster on localhost (root, Debian/Ubuntu) for the Slurm test and for trying
# `kimg run --on slurm`.
slurm-up:
	scripts/slurm-local.sh up

slurm-down:
	scripts/slurm-local.sh down

bench: setup
	$(CARGO) bench --locked
