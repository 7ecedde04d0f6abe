# zerocp front door. `make demo` runs the main job, `make test` runs every test.
# Both install missing Debian packages first (scripts/deps.sh).

JOBS        ?= 2
BUILD       ?= build
ASAN_BUILD  ?= build-asan
TSAN_BUILD  ?= build-tsan
FUZZ_BUILD  ?= build-fuzz
CTEST_FLAGS ?= --output-on-failure --timeout 300 -j$(JOBS)
# libFuzzer's time over the protocol decoder in `make test`. In a clean-clone run (commit
# e7b7790, about 70k executions/s) coverage reached 925 edges after about 8 s, 933 after
# about 28 s and 935 after about 57 s: 30 s keeps nearly all of it and 30 s of the 20-minute
# budget. Longer: make test-fuzz FUZZ_SECONDS=600.
FUZZ_SECONDS ?= 30
SOAK_SECONDS ?= 180

CMAKE_COMMON = -DZCP_WERROR=ON
# Sanitizer builds: -O1 -g1 instead of RelWithDebInfo's -O2 -g. -g1 (line tables and function
# names) is all a sanitizer report needs; -O1 is what ASan and TSan recommend, and the test
# programs' own sources are compiled at -O0 (ZCP_TEST_OPT): most of their compile time is
# gtest macro expansion. Compiling tests/daemon/control_plane_test.cpp under ASan+UBSan took
# 33.7 s of CPU at -O2, 21.7 s at -O1 and 13.3 s at -O0, which keeps `make test` in budget.
SAN_FLAGS = -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O1 -g1 -DNDEBUG" -DCMAKE_C_FLAGS_RELWITHDEBINFO="-O1 -g1 -DNDEBUG"

.PHONY: install all deps configure build test test-release test-asan test-tsan test-fuzz \
        bench demo soak clean format format-check tidy

all: build

deps:
	@scripts/deps.sh

$(BUILD)/CMakeCache.txt:
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=Release

configure: deps $(BUILD)/CMakeCache.txt

build: configure
	cmake --build $(BUILD) -j$(JOBS)

# The format check (seconds), then the Release build + every test, then ASan+UBSan + the unit and integration tests, then TSan +
# the concurrency tests, then a bounded libFuzzer run over the protocol decoder. Budget: 20
# min on 2 CPUs from a clean clone (README, "Building and testing"). The sanitizer stages
# build only their test programs and what those run (diroute, zcp, zcp-top, zcp-soak), not
# the examples or zcp-perf, which the Release stage builds and tests.
test: deps
	$(MAKE) format-check
	$(MAKE) test-release
	$(MAKE) test-asan
	$(MAKE) test-tsan
	$(MAKE) test-fuzz

# The product at -O3 (Release); the test programs' own sources at -O1 (ZCP_TEST_OPT). The
# micro-benchmarks are left out (no test runs them; `make bench` and the other benchmark
# targets turn them back on), which keeps `make test` within its 20 minutes.
test-release:
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=Release -DZCP_TEST_OPT=-O1 -DZCP_BUILD_BENCH=OFF $(CMAKE_COMMON)
	cmake --build $(BUILD) -j$(JOBS)
	ctest --test-dir $(BUILD) $(CTEST_FLAGS)

# The unit and integration tests (the concurrency tests run in the Release and TSan stages),
# but not the compile checks (plain compiler runs, done in the Release stage).
test-asan:
	cmake -S . -B $(ASAN_BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo -DZCP_SANITIZER=address \
	      -DZCP_BUILD_BENCH=OFF -DZCP_TEST_OPT=-O0 $(CMAKE_COMMON) $(SAN_FLAGS)
	cmake --build $(ASAN_BUILD) -j$(JOBS) --target zcp_unit_tests zcp_integration_tests
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	  ctest --test-dir $(ASAN_BUILD) $(CTEST_FLAGS) -L 'unit|integration' -E '\.compile\.'

test-tsan:
	cmake -S . -B $(TSAN_BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo -DZCP_SANITIZER=thread \
	      -DZCP_BUILD_BENCH=OFF $(CMAKE_COMMON) $(SAN_FLAGS)
	cmake --build $(TSAN_BUILD) -j$(JOBS) --target zcp_concurrency_tests
	TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1 \
	  ctest --test-dir $(TSAN_BUILD) $(CTEST_FLAGS) -L concurrency

test-fuzz:
	@if [ -f fuzz/CMakeLists.txt ]; then \
	  cmake -S . -B $(FUZZ_BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_CXX_COMPILER=clang++ \
	        -DCMAKE_C_COMPILER=clang -DZCP_BUILD_FUZZ=ON -DZCP_BUILD_TESTS=OFF -DZCP_BUILD_BENCH=OFF \
	        $(CMAKE_COMMON) && \
	  cmake --build $(FUZZ_BUILD) -j$(JOBS) --target zcp_fuzz && \
	  scripts/run-fuzz.sh $(FUZZ_BUILD) $(FUZZ_SECONDS); \
	else echo "test-fuzz: no fuzz targets yet"; fi

# Installs the build into $(PREFIX) (binaries, headers, libzcp, CMake and pkg-config files,
# example config, systemd unit): `make install PREFIX=/opt/zerocp`.
PREFIX ?= /usr/local
install: build
	cmake --install $(BUILD) --prefix $(PREFIX)

# The benchmark targets build the micro-benchmarks and zcp-oneway (bench/) into $(BUILD).
.PHONY: bench-build
bench-build: configure
	cmake -S . -B $(BUILD) -DZCP_BUILD_BENCH=ON
	cmake --build $(BUILD) -j$(JOBS)

bench: bench-build
	scripts/run-bench.sh $(BUILD)

# zerocp side by side with iceoryx 2.0.3 and Unix sockets, one table of medians
# (docs/performance.md). Installs iceoryx if missing; builds in build-bench. Not in `make test`.
.PHONY: bench-compare
bench-compare: deps
	JOBS=$(JOBS) scripts/bench-compare.sh build-bench

# Fan-out to 1..1000 subscriber processes, zerocp and iceoryx, with a plot
# (docs/performance.md, "Fan-out at scale"). Not in `make test`.
.PHONY: bench-scale
bench-scale: deps
	JOBS=$(JOBS) scripts/bench-scale.sh build-bench

# The Python and Rust bindings beside C++ in one run: take rate, one-way latency C++ -> Python
# and C++ -> Rust vs C++ -> C++, numpy in place vs copied (docs/performance.md, "Python and
# Rust"). Not in `make test`.
.PHONY: bench-bindings
bench-bindings: bench-build
	scripts/bench-bindings.sh $(BUILD)

# Where the data path spends: system calls and context switches per message (perf), the
# router's batch size, instructions per message (callgrind). docs/performance.md, "Profile".
.PHONY: profile
profile: bench-build
	scripts/profile.sh $(BUILD)

# Builds only diroute and zcp-demo (scripts/demo.sh), not the test suite.
demo: configure
	JOBS=$(JOBS) scripts/demo.sh $(BUILD)

# Bounded soak (not part of `make test`): load, topic churn and random kill -9 of clients
# against a private diroute, then exact pool accounting and daemon health. SOAK_SECONDS=600
# for longer; zcp-soak --help for the knobs.
soak: build
	$(BUILD)/bin/zcp-soak --duration $(SOAK_SECONDS) --victims 6 --max-life-ms 200

# clang-format 14 with .clang-format over every C++ source; format-check changes nothing and
# fails on a file that differs (the first stage of `make test`).
format:
	scripts/format.sh

format-check: deps
	scripts/format.sh --check

tidy: build
	run-clang-tidy -p $(BUILD) -quiet $$(git ls-files 'src/*.cpp' 'tools/*.cpp')

clean:
	rm -rf $(BUILD) $(ASAN_BUILD) $(TSAN_BUILD) $(FUZZ_BUILD)
