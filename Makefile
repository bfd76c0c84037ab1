# vdetect — one Makefile for the program, its tests and benchmarks.
#   make            build ./vdetect
#   make run        install missing packages, build, run the demo
#   make test       install missing packages, build, run every test
#   make bench      vdetect vs PyTorch on the same model, input and threads
#   make soak       view on a live source for an hour: RSS and latency over time
#   make weights    download torchvision's COCO checkpoints into weights/ (SHA-256 checked)
#   make asan / make tsan   sanitizer builds of vdetect and the tests (build-asan/, build-tsan/)
#   make check-asan         the parser and unit tests under AddressSanitizer + UBSan
#   (make test runs those and the queue/pipeline tests under ThreadSanitizer too)
#   make fuzz [FUZZ_SECONDS=N]   build the libFuzzer targets (clang) and run each N s
#   (make test replays every fuzz corpus under ASan + UBSan, with gcc: no clang needed)

PKGS     := libavformat libavcodec libavdevice libavfilter libavutil libswscale libswresample sdl2 SDL2_ttf openblas
BUILD    ?= build
OPT      ?= -O3 -g -march=native
CFLAGS   ?=
CFLAGS   += -std=c11 -Wall -Wextra $(OPT) -ffp-contract=off -pthread -D_GNU_SOURCE
CFLAGS   += $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
ifneq ($(CI),)
CFLAGS   += -Werror
endif
LDLIBS   += $(shell pkg-config --libs $(PKGS) 2>/dev/null) -lm -pthread
PYTHON   ?= /usr/bin/python3
BIN      ?= vdetect

MODEL_SRC  := $(wildcard model/*.c)
VIDEO_SRC  := $(wildcard video/*.c)
RENDER_SRC := $(wildcard render/*.c)
APP_SRC    := $(wildcard app/*.c)
TEST_SUPPORT_SRC := $(filter-out tests/test_%.c tests/fuzz_%.c,$(wildcard tests/*.c))
TEST_SRC   := $(wildcard tests/test_*.c)

obj = $(patsubst %.c,$(BUILD)/%.o,$(1))
MODEL_OBJ  := $(call obj,$(MODEL_SRC))
VIDEO_OBJ  := $(call obj,$(VIDEO_SRC))
RENDER_OBJ := $(call obj,$(RENDER_SRC))
APP_OBJ    := $(call obj,$(APP_SRC))
LIB_OBJ    := $(MODEL_OBJ) $(VIDEO_OBJ) $(RENDER_OBJ) $(filter-out $(BUILD)/app/main.o,$(APP_OBJ))
TEST_SUPPORT_OBJ := $(call obj,$(TEST_SUPPORT_SRC))
TEST_BIN   := $(patsubst tests/%.c,$(BUILD)/tests/%,$(TEST_SRC))
FUZZ_SRC   := $(filter-out tests/fuzz_replay.c,$(wildcard tests/fuzz_*.c))
FUZZ_TARGETS := $(patsubst tests/%.c,%,$(FUZZ_SRC))

# keep the test objects between builds (they are intermediates of the test binaries)
.SECONDARY:

.PHONY: all run test bench soak deps test-deps asan tsan check-asan clean tests weights fuzz fuzz-build
all: $(BIN)

$(BIN): $(APP_OBJ) $(LIB_OBJ)
	$(CC) $(CFLAGS) -o $@ $(sort $^) $(LDLIBS)

$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -MMD -MP -c -o $@ $<

$(BUILD)/tests/%: $(BUILD)/tests/%.o $(TEST_SUPPORT_OBJ) $(LIB_OBJ)
	$(CC) $(CFLAGS) -o $@ $^ $(LDLIBS)

# a fuzz target with the corpus-replaying main() of tests/fuzz_replay.c (any compiler)
$(BUILD)/tests/replay_%: $(BUILD)/tests/%.o $(BUILD)/tests/fuzz_replay.o $(LIB_OBJ)
	$(CC) $(CFLAGS) -o $@ $^ $(LDLIBS)

# a fuzz target with libFuzzer's main() (clang only)
$(BUILD)/fuzz/%: $(BUILD)/tests/%.o $(LIB_OBJ)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -fsanitize=fuzzer -o $@ $^ $(LDLIBS)

tests: $(BIN) $(TEST_BIN)

deps:
	@scripts/deps.sh build

test-deps:
	@scripts/deps.sh test

run: deps
	@$(MAKE) --no-print-directory $(BIN)
	@scripts/run-demo.sh

SANITIZED_TESTS = $(addprefix build-asan/tests/,$(ASAN_TESTS)) $(addprefix build-tsan/tests/,$(TSAN_TESTS))

test: test-deps
	@$(MAKE) --no-print-directory tests
	@$(MAKE) --no-print-directory BUILD=build-asan BIN=build-asan/vdetect OPT="$(ASAN_OPT)" \
	    $(addprefix build-asan/tests/,$(ASAN_TESTS))
	@$(MAKE) --no-print-directory BUILD=build-tsan BIN=build-tsan/vdetect OPT="$(TSAN_OPT)" \
	    $(addprefix build-tsan/tests/,$(TSAN_TESTS))
	@BUILD=$(BUILD) PYTHON=$(PYTHON) EXTRA_TESTS="$(SANITIZED_TESTS)" tests/run.sh

bench: test-deps
	@$(MAKE) --no-print-directory $(BIN)
	@PYTHON=$(PYTHON) tests/bench.sh

# view on a live 30 fps source for SOAK_SECONDS (default 3600): RSS and latency
# per SOAK_EVERY seconds into out/soak/report.md (not part of make test)
soak: test-deps
	@$(MAKE) --no-print-directory $(BIN)
	@scripts/soak.sh

ASAN_OPT := -O1 -g -march=native -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
ASAN_TESTS := test_ckpt test_npy test_json test_video_image test_transform_rpn test_nms_roi test_queue test_ties \
              test_outfile test_plan $(addprefix replay_,$(FUZZ_TARGETS))
TSAN_OPT := -O1 -g -march=native -fsanitize=thread
TSAN_TESTS := test_queue test_pipeline test_thread_pool

weights:
	@scripts/get-weights.sh

# libFuzzer targets (tests/fuzz_*.c) with clang, ASan and UBSan, in build-fuzz/; each runs
# FUZZ_SECONDS on its corpus (tests/corpus/NAME/ plus what it found before, kept in
# build-fuzz/corpus/NAME/); any crash is copied into tests/corpus/NAME/ to be replayed by
# make test from then on. tests/fuzz.sh prints the executions per target.
FUZZ_SECONDS ?= 60
FUZZ_CC  ?= clang
FUZZ_OPT := -O1 -g -march=native -fsanitize=fuzzer-no-link,address,undefined \
            -fno-omit-frame-pointer -fno-sanitize-recover=undefined

fuzz-build:
	@scripts/deps.sh fuzz
	@$(MAKE) --no-print-directory BUILD=build-fuzz BIN=build-fuzz/vdetect CC=$(FUZZ_CC) \
	    OPT="$(FUZZ_OPT)" $(addprefix build-fuzz/fuzz/,$(FUZZ_TARGETS))

fuzz: fuzz-build
	@FUZZ_SECONDS=$(FUZZ_SECONDS) tests/fuzz.sh $(FUZZ_TARGETS)

asan:
	@$(MAKE) --no-print-directory BUILD=build-asan BIN=build-asan/vdetect OPT="$(ASAN_OPT)" tests

tsan:
	@$(MAKE) --no-print-directory BUILD=build-tsan BIN=build-tsan/vdetect OPT="$(TSAN_OPT)" tests

# The parsers and stage kernels under ASan/UBSan (make test runs them too).
check-asan:
	@$(MAKE) --no-print-directory BUILD=build-asan BIN=build-asan/vdetect OPT="$(ASAN_OPT)" \
	    $(addprefix build-asan/tests/,$(ASAN_TESTS))
	@ONLY=1 EXTRA_TESTS="$(addprefix build-asan/tests/,$(ASAN_TESTS))" PYTHON=$(PYTHON) tests/run.sh

clean:
	rm -rf build build-asan build-tsan build-fuzz vdetect

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)
