# Thin wrapper around CMake and the dev-stack scripts. See README.md.
#   make run       build and start the whole stack on :8000 (scripts/run.sh)
#   make test      build and run every test (unit + integration) with ctest
#   make sanitize  the same under ASan+UBSan, in build-asan/
BUILD ?= build
ASAN_BUILD ?= build-asan
JOBS ?= $(shell nproc)
CTEST_JOBS ?= 2
CTEST_FLAGS ?=

.PHONY: all deps build run test sanitize clean

all: build

deps:
	@scripts/deps.sh

$(BUILD)/CMakeCache.txt:
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo

build: deps $(BUILD)/CMakeCache.txt
	cmake --build $(BUILD) -j $(JOBS)
	@scripts/docs-assets.sh $(BUILD)/docs

run: build
	@BUILD=$(BUILD) scripts/run.sh

test: build
	cd $(BUILD) && ctest --output-on-failure -j $(CTEST_JOBS) $(CTEST_FLAGS)

$(ASAN_BUILD)/CMakeCache.txt:
	cmake -S . -B $(ASAN_BUILD) -DCMAKE_BUILD_TYPE=Debug -DSANITIZE=ON

# Leak checking on; any UBSan report fails the test.
sanitize: deps $(ASAN_BUILD)/CMakeCache.txt
	cmake --build $(ASAN_BUILD) -j $(JOBS)
	cd $(ASAN_BUILD) && \
	  ASAN_OPTIONS=detect_leaks=1:abort_on_error=1:strict_string_checks=1 \
	  UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	  ctest --output-on-failure -j $(CTEST_JOBS) $(CTEST_FLAGS)

clean:
	rm -rf $(BUILD) $(ASAN_BUILD)

# Chaos run: kill/restart every process under load, then check the ledger
# (scripts/test-chaos.sh, tests/chaos/chaos.c). Not part of `make test`.
.PHONY: test-chaos
test-chaos: build
	@BUILD=$(BUILD) scripts/test-chaos.sh

# Fuzzing, sanitizers and memcheck (tests/fuzz/README.md). `make fuzz
# FUZZ_SECONDS=N` runs each libFuzzer target N s from its seed corpus;
# check-sanitize is `sanitize` plus the services' own sanitizer reports.
FUZZ_SECONDS ?= 60
.PHONY: fuzz check-sanitize valgrind
fuzz: deps
	@FUZZ_SECONDS=$(FUZZ_SECONDS) scripts/fuzz.sh
check-sanitize: deps
	@ASAN_BUILD=$(ASAN_BUILD) CTEST_JOBS=$(CTEST_JOBS) scripts/check-sanitize.sh
valgrind: deps
	@scripts/check-valgrind.sh

# docker-compose deployment test (compose/test-compose.sh): builds the images
# from Debian packages only, runs 3 catalog + 2 order replicas, checks
# scaling and failover, tears everything down. SKIP_COMPOSE=1 skips it
# explicitly on a machine without a Docker engine.
.PHONY: test-compose
test-compose:
	@compose/test-compose.sh

# The stack from outside: /docs in headless Chromium (Try it out), real
# responses against proto/openapi.json, /metrics through promtool.
.PHONY: test-e2e
test-e2e: build
	BUILD=$(BUILD) tests/e2e/run.sh

# Benchmarks (scripts/bench.sh): writes bench/results/<date>.md.
.PHONY: bench
bench: deps
	@BUILD=$(BUILD) scripts/bench.sh
