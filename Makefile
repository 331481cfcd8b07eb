# Thin wrapper over the CMake presets: `make`, `make test`, `make demo`, `make bench`,
# `make chaos`. Every target that needs dependencies runs scripts/bootstrap first.
SHELL := /bin/bash
PRESET ?= $(if $(CI),ci,default)
BUILD_DIR := build
JOBS ?= $(shell nproc)

.PHONY: all build bootstrap test test-unit test-asan fuzz demo bench chaos format lint clean dev-up dev-down

all: build

bootstrap:
	@scripts/bootstrap

build: bootstrap
	@if [ ! -f $(BUILD_DIR)/build.ninja ] || [ "$$(cat $(BUILD_DIR)/.preset 2>/dev/null)" != "$(PRESET)" ]; then \
	  cmake --preset $(PRESET) >/dev/null && echo $(PRESET) > $(BUILD_DIR)/.preset; fi
	@cmake --build --preset $(PRESET) -j $(JOBS)

test: build
	@ctest --preset $(PRESET) -j $(JOBS)

test-unit: build
	@ctest --preset $(PRESET) -j $(JOBS) -L unit

test-asan: bootstrap
	@cmake --preset asan >/dev/null
	@cmake --build --preset asan -j $(JOBS)
	@ctest --preset asan -j $(JOBS)
	@ctest --preset asan-message-path -j $(JOBS)

fuzz: bootstrap
	@scripts/fuzz

demo: build
	@scripts/demo

bench: build
	@scripts/bench

chaos: build
	@scripts/chaos

format:
	@git ls-files '*.cpp' '*.hpp' | xargs clang-format -i

lint: build
	@git ls-files 'src/*.cpp' 'apps/*.cpp' | xargs clang-tidy -p $(BUILD_DIR) --quiet --warnings-as-errors='*'

dev-up: build
	@scripts/dev-services up
dev-down:
	@scripts/dev-services down

clean:
	rm -rf build build-asan build-fuzz
