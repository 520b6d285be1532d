# Spate — top-level entry points.  See README.md.
#   make demo   install missing packages, build, run the Nexmark demo job embedded
#   make test   install missing packages, build with ASan+UBSan, run the ctest suite,
#               then the runtime tests under TSan, then the format check
#   make bench  build optimised and run the benchmarks (not part of test)
.PHONY: all deps build demo test test-asan tsan format format-check bench clean

BUILD      ?= build
ASAN_BUILD ?= build-asan
TSAN_BUILD ?= build-tsan
JOBS       ?= $(shell nproc)
CMAKE_GEN   = cmake -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo

all: build

deps:
	@sh scripts/install-deps.sh

build: deps
	@$(CMAKE_GEN) -S . -B $(BUILD) >/dev/null
	@cmake --build $(BUILD) -j $(JOBS)

demo: build
	./$(BUILD)/spate run $(BUILD)/examples/nexmark_demo.so

test: test-asan tsan format-check

test-asan: deps
	@$(CMAKE_GEN) -DSPATE_SANITIZE=address -DSPATE_BUILD_BENCH=OFF -S . -B $(ASAN_BUILD) >/dev/null
	@cmake --build $(ASAN_BUILD) -j $(JOBS)
	cd $(ASAN_BUILD) && ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1 \
		ctest --output-on-failure --no-tests=error -j $(JOBS) -LE slow

tsan: deps
	@$(CMAKE_GEN) -DSPATE_SANITIZE=thread -DSPATE_BUILD_BENCH=OFF -S . -B $(TSAN_BUILD) >/dev/null
	@cmake --build $(TSAN_BUILD) -j $(JOBS)
	cd $(TSAN_BUILD) && TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1 \
		ctest --output-on-failure --no-tests=error -j $(JOBS) -L "runtime|api|checkpoint"

format:
	@clang-format -i $$(git ls-files '*.c' '*.h')

format-check:
	@clang-format --dry-run -Werror $$(git ls-files '*.c' '*.h') && echo "format-check: ok"

bench: build
	./$(BUILD)/bench/nexmark_q0_q2
	./$(BUILD)/bench/nexmark_window
	./$(BUILD)/bench/checkpoint

clean:
	rm -rf $(BUILD) $(ASAN_BUILD) $(TSAN_BUILD)
