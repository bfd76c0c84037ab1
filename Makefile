# vdetect — one Makefile for the program, its tests and benchmarks.
#   make            build ./vdetect
#   make run        install missing packages, build, run the demo
#   make test       install missing packages, build, run every test
#   make bench      vdetect vs PyTorch on the same model, input and threads
#   make asan / make tsan   sanitizer builds of the tests (build-asan/, build-tsan/)

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

.PHONY: all run test bench deps test-deps asan tsan clean tests
all: vdetect

vdetect: $(APP_OBJ) $(LIB_OBJ)
	$(CC) $(CFLAGS) -o $@ $(sort $^) $(LDLIBS)

$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -MMD -MP -c -o $@ $<

$(BUILD)/tests/%: $(BUILD)/tests/%.o $(TEST_SUPPORT_OBJ) $(LIB_OBJ)
	$(CC) $(CFLAGS) -o $@ $^ $(LDLIBS)

tests: vdetect $(TEST_BIN)

deps:
	@scripts/deps.sh build

test-deps:
	@scripts/deps.sh test

run: deps
	@$(MAKE) --no-print-directory vdetect
	@scripts/run-demo.sh

test: test-deps
	@$(MAKE) --no-print-directory tests
	@BUILD=$(BUILD) PYTHON=$(PYTHON) tests/run.sh

bench: test-deps
	@$(MAKE) --no-print-directory vdetect
	@PYTHON=$(PYTHON) tests/bench.sh

asan:
	@$(MAKE) --no-print-directory BUILD=build-asan OPT="-O1 -g -fsanitize=address,undefined -fno-omit-frame-pointer" tests

tsan:
	@$(MAKE) --no-print-directory BUILD=build-tsan OPT="-O1 -g -fsanitize=thread" tests

clean:
	rm -rf build build-asan build-tsan vdetect

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)
