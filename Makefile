# The two commands of the README: `make run` and `make test`.
SHELL := /bin/bash
APT_PACKAGES := libavformat-dev libavcodec-dev libswscale-dev libavutil-dev libopenblas-dev pkg-config ffmpeg
PY_PACKAGES := numpy scipy safetensors pytest
SWIFT_BUILD := swift build -c release
ACTION ?= 12
FRAMES ?= 16
OUT ?= out.mp4

.PHONY: deps pydeps build run test swift-test py-test bench clean

# Installs missing system packages when run as root; otherwise prints the line to run.
deps:
	@missing=""; for p in $(APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    echo "installing:$$missing"; \
	    DEBIAN_FRONTEND=noninteractive apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	  else \
	    echo "missing system packages; run: sudo apt-get install -y$$missing"; exit 1; \
	  fi; \
	fi

pydeps:
	@python3 -c "import numpy, scipy, safetensors, pytest" 2>/dev/null || python3 -m pip install -q $(PY_PACKAGES)

build: deps
	$(SWIFT_BUILD) --product par-video

run: build
	.build/release/par-video --action $(ACTION) --frames $(FRAMES) -o $(OUT)

swift-test: deps
	swift test -c release -Xswiftc -enable-testing

py-test: pydeps
	python3 -m pytest -q tools/tests

test: swift-test py-test

bench: build
	.build/release/par-video bench

clean:
	rm -rf .build
