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
