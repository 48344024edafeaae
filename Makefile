# weft - the README's commands. CMake does the building; this file installs what is missing,
# picks the build folders and strings the steps together.
#
#   make run      install missing Debian packages, build, run the main demo
#   make test     install, build, run every test; then again under ASan+UBSan and under TSan
#   make bench    build weft-bench and the peers; run bench/run.sh (WORKLOADS="..." to choose)
#   make install  install the library, headers, weft.pc and the CMake package (PREFIX=/usr/local)

BUILD      ?= build
PREFIX     ?= /usr/local
JOBS       ?= $(shell nproc)
CMAKE_ARGS ?=
WORKLOADS  ?=

# Debian 12 packages the build and the test suite need.
DEB_BUILD = cmake make gcc libc6-dev pkg-config liburing-dev node-llhttp
DEB_TEST  = clang valgrind curl wrk prometheus node-llhttp libuv1-dev
# Extra packages for the side-by-side benchmarks (the peers are built offline from these).
DEB_BENCH = librust-tokio-dev librust-smol-dev librust-async-executor-dev \
            librust-async-lock-dev golang-go libuv1-dev libev-dev \
            nginx-light h2o librust-hyper-dev

.PHONY: all build deps deps-bench run test test-release test-asan test-tsan bench install \
        format clean

all: build

# Install what is missing: with apt-get when root, otherwise print the command and stop.
define install_debs
	@missing=$$(for p in $(1); do dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | \
	    grep -q 'install ok installed' || echo $$p; done); \
	if [ -n "$$missing" ]; then \
	    if [ "$$(id -u)" = 0 ]; then \
	        echo "installing:$$missing"; \
	        (apt-get update -qq || true) && \
	        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	    else \
	        echo "missing Debian packages; run: sudo apt-get install -y$$missing"; exit 1; \
	    fi; \
	fi
endef

deps:
	$(call install_debs,$(DEB_BUILD) $(DEB_TEST))

deps-bench: deps
	$(call install_debs,$(DEB_BENCH))

build: deps
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=Release $(CMAKE_ARGS) >/dev/null
	cmake --build $(BUILD) -j $(JOBS)

run: build
	@echo "weft-httpd: serving ./www on http://127.0.0.1:8080/ (Ctrl-C stops it)"
	./$(BUILD)/apps/weft-httpd --root www --autoindex --metrics /metrics

# The whole suite three times: Release, ASan+UBSan, TSan (with the 4-slot run queue, so the
# stealing paths run under TSan all the time).
test: build
	$(MAKE) --no-print-directory test-release test-asan test-tsan

test-release:
	cd $(BUILD) && ctest -j $(JOBS) --output-on-failure

test-asan: deps
	cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug -DWEFT_SANITIZE=address \
	    -DWEFT_BUILD_BENCH=OFF $(CMAKE_ARGS) >/dev/null
	cmake --build build-asan -j $(JOBS)
	cd build-asan && ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
	    UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 ctest -j $(JOBS) --output-on-failure

test-tsan: deps
	cmake -S . -B build-tsan -DCMAKE_BUILD_TYPE=Debug -DWEFT_SANITIZE=thread \
	    -DWEFT_SMALL_QUEUE=ON -DWEFT_BUILD_BENCH=OFF $(CMAKE_ARGS) >/dev/null
	cmake --build build-tsan -j $(JOBS)
	cd build-tsan && TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1 \
	    ctest -j $(JOBS) --output-on-failure

bench: deps-bench build
	bench/peers/build.sh $(BUILD)/bench/peers
	WEFT_BENCH=$(BUILD)/bench/weft-bench PEER_BIN=$(BUILD)/bench/peers bench/run.sh $(WORKLOADS)

install: build
	cmake --install $(BUILD) --prefix $(PREFIX)

format:
	clang-format -i $$(git ls-files '*.c' '*.h')

clean:
	rm -rf $(BUILD) build-asan build-tsan
