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
#   make install [PREFIX=/usr/local] [DESTDIR=]   the program, libvdetect (static and
#                   shared, model/ only), its header and vdetect.pc, the demo assets,
#                   the man page and bash completion, the systemd unit vdetect@.service
#                   and an example camera config; make uninstall removes them

# The walls between the parts are kept by the compiler: each folder is compiled with
# only its own libraries' headers on the include path — model/ sees OpenBLAS, oneDNN and
# jansson (model files' JSON), video/ FFmpeg, render/ SDL2, base/, track/ and motion/ none
# (libc and libm only; track/ and motion/ share base/'s helpers through base.h), publish/
# libmosquitto (events to an MQTT broker), app/ jansson (COCO files) and libsystemd
# (sd_notify, in app/service.c) alone (it reaches the rest through model.h, video.h and
# render.h) — so a wall broken is a build error. Tests may look inside every part.
MODEL_PKGS  := openblas jansson
VIDEO_PKGS  := libavformat libavcodec libavdevice libavfilter libavutil libswscale libswresample
RENDER_PKGS := sdl2 SDL2_ttf SDL2_image
PUBLISH_PKGS := libmosquitto
APP_PKGS    := jansson libsystemd
PKGS     := $(VIDEO_PKGS) $(RENDER_PKGS) $(MODEL_PKGS) $(PUBLISH_PKGS) $(filter-out $(MODEL_PKGS),$(APP_PKGS))
pkg_cflags = $(shell pkg-config --cflags $(1) 2>/dev/null)
BUILD    ?= build
OPT      ?= -O3 -g -march=native
CFLAGS   ?=
CFLAGS   += -std=c11 -Wall -Wextra $(OPT) -ffp-contract=off -pthread -D_GNU_SOURCE
ifneq ($(CI),)
CFLAGS   += -Werror
endif
# oneDNN (Debian's libdnnl-dev) has no pkg-config file; it threads with OpenMP (libgomp),
# which model/ops/engine.c keeps to one thread per caller
MODEL_LIBS := -ldnnl -lgomp
LDLIBS   += $(shell pkg-config --libs $(PKGS) 2>/dev/null) $(MODEL_LIBS) -lm -pthread
PYTHON   ?= /usr/bin/python3
BIN      ?= vdetect

MODEL_SRC  := $(wildcard model/*.c model/*/*.c)
VIDEO_SRC  := $(wildcard video/*.c)
RENDER_SRC := $(wildcard render/*.c)
BASE_SRC   := $(wildcard base/*.c)
TRACK_SRC  := $(wildcard track/*.c)
MOTION_SRC := $(wildcard motion/*.c)
PUBLISH_SRC := $(wildcard publish/*.c)
APP_SRC    := $(wildcard app/*.c)
TEST_SUPPORT_SRC := $(filter-out tests/test_%.c tests/fuzz_%.c tests/drive_%.c,$(wildcard tests/*.c))
TEST_SRC   := $(wildcard tests/test_*.c)
# programs a shell test drives (tests/drive_NAME.c → $(BUILD)/tests/drive_NAME): built with
# the tests, run only by their shell test (tests/run.sh runs test_* programs)
DRIVE_SRC  := $(wildcard tests/drive_*.c)

obj = $(patsubst %.c,$(BUILD)/%.o,$(1))
MODEL_OBJ  := $(call obj,$(MODEL_SRC))
VIDEO_OBJ  := $(call obj,$(VIDEO_SRC))
RENDER_OBJ := $(call obj,$(RENDER_SRC))
BASE_OBJ   := $(call obj,$(BASE_SRC))
TRACK_OBJ  := $(call obj,$(TRACK_SRC))
MOTION_OBJ := $(call obj,$(MOTION_SRC))
PUBLISH_OBJ := $(call obj,$(PUBLISH_SRC))
APP_OBJ    := $(call obj,$(APP_SRC))
LIB_OBJ    := $(MODEL_OBJ) $(VIDEO_OBJ) $(RENDER_OBJ) $(BASE_OBJ) $(TRACK_OBJ) $(MOTION_OBJ) $(PUBLISH_OBJ) $(filter-out $(BUILD)/app/main.o,$(APP_OBJ))
TEST_SUPPORT_OBJ := $(call obj,$(TEST_SUPPORT_SRC))
TEST_BIN   := $(patsubst tests/%.c,$(BUILD)/tests/%,$(TEST_SRC))
DRIVE_BIN  := $(patsubst tests/%.c,$(BUILD)/tests/%,$(DRIVE_SRC))
FUZZ_SRC   := $(filter-out tests/fuzz_replay.c,$(wildcard tests/fuzz_*.c))
FUZZ_TARGETS := $(patsubst tests/%.c,%,$(FUZZ_SRC))

# keep the test objects between builds (they are intermediates of the test binaries)
.SECONDARY:

.PHONY: all run test bench soak soak-watch deps test-deps asan tsan check-asan clean tests weights fuzz fuzz-build
.PHONY: lib install uninstall FORCE
all: $(BIN)

$(BIN): $(APP_OBJ) $(LIB_OBJ)
	$(CC) $(CFLAGS) -o $@ $(sort $^) $(LDLIBS)

$(BUILD)/model/%.o: PART_CFLAGS := $(call pkg_cflags,$(MODEL_PKGS))
$(BUILD)/video/%.o: PART_CFLAGS := $(call pkg_cflags,$(VIDEO_PKGS))
$(BUILD)/render/%.o: PART_CFLAGS := $(call pkg_cflags,$(RENDER_PKGS))
$(BUILD)/base/%.o: PART_CFLAGS :=
$(BUILD)/track/%.o: PART_CFLAGS :=
$(BUILD)/motion/%.o: PART_CFLAGS :=
$(BUILD)/publish/%.o: PART_CFLAGS := $(call pkg_cflags,$(PUBLISH_PKGS))
$(BUILD)/app/%.o: PART_CFLAGS := $(call pkg_cflags,$(APP_PKGS))
$(BUILD)/tests/%.o: PART_CFLAGS := $(call pkg_cflags,$(PKGS))

$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(PART_CFLAGS) -MMD -MP -c -o $@ $<

$(BUILD)/tests/%: $(BUILD)/tests/%.o $(TEST_SUPPORT_OBJ) $(LIB_OBJ)
	$(CC) $(CFLAGS) -o $@ $^ $(LDLIBS)

# a fuzz target with the corpus-replaying main() of tests/fuzz_replay.c (any compiler)
$(BUILD)/tests/replay_%: $(BUILD)/tests/%.o $(BUILD)/tests/fuzz_replay.o $(LIB_OBJ)
	$(CC) $(CFLAGS) -o $@ $^ $(LDLIBS)

# a fuzz target with libFuzzer's main() (clang only)
$(BUILD)/fuzz/%: $(BUILD)/tests/%.o $(LIB_OBJ)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -fsanitize=fuzzer -o $@ $^ $(LDLIBS)

tests: $(BIN) $(TEST_BIN) $(DRIVE_BIN)

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
	    $(addprefix build-asan/tests/,$(ASAN_TESTS) $(ASAN_DRIVES))
	@$(MAKE) --no-print-directory BUILD=build-tsan BIN=build-tsan/vdetect OPT="$(TSAN_OPT)" \
	    $(addprefix build-tsan/tests/,$(TSAN_TESTS))
	@BUILD=$(BUILD) PYTHON=$(PYTHON) EXTRA_TESTS="$(SANITIZED_TESTS)" tests/run.sh

bench: test-deps
	@$(MAKE) --no-print-directory $(BIN)
	@PYTHON=$(PYTHON) tests/bench.sh

# view on a live 30 fps source for SOAK_SECONDS (default 3600): RSS and latency
# per SOAK_EVERY seconds into out/soak/report.md (not part of make test)
# four `vdetect watch` cameras on loopback UDP streams and one broker for SOAK_SECONDS
# (default 3600): RSS, reconnects and drops into out/soak-watch/report.md
soak-watch: test-deps
	@$(MAKE) --no-print-directory $(BIN)
	@scripts/soak-watch.sh

soak: test-deps
	@$(MAKE) --no-print-directory $(BIN)
	@scripts/soak.sh

ASAN_OPT := -O1 -g -march=native -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
ASAN_TESTS := test_precision test_conv_bf16 test_pooling test_upsample test_ckpt test_npy test_json test_video_image test_transform_rpn test_nms_roi test_queue test_ties \
              test_outfile test_plan test_coco test_options test_app_json test_model_set test_track test_motion \
              test_metrics_http test_publish test_clips \
              $(addprefix replay_,$(FUZZ_TARGETS))
# drive_ programs whose shell test also runs them from build-asan/ when they are there
ASAN_DRIVES := drive_reconnect
TSAN_OPT := -O1 -g -march=native -fsanitize=thread
TSAN_TESTS := test_queue test_pipeline test_thread_pool test_precision test_conv_bf16 test_upsample test_frame_pool test_service \
              test_metrics_http test_publish test_clips

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

# ---- install -------------------------------------------------------------------------
# libvdetect is model/ alone (it needs OpenBLAS, jansson, libm and pthreads, nothing of video/,
# render/ or app/). The static library is one relocatable object in which only the
# model_* symbols of model.h stay global; the shared one is built from -fPIC objects in
# $(PIC_BUILD)/ and exports the same symbols (model/libvdetect.map). The installed
# program is ./vdetect's objects with app/cli_model.c recompiled to also look for the
# demo model in $(DATADIR) (see find_asset there); ./vdetect itself is unchanged.
PREFIX     ?= /usr/local
BINDIR     ?= $(PREFIX)/bin
LIBDIR     ?= $(PREFIX)/lib
INCLUDEDIR ?= $(PREFIX)/include
DATADIR    ?= $(PREFIX)/share/vdetect
MANDIR     ?= $(PREFIX)/share/man
BASHCOMPDIR ?= $(PREFIX)/share/bash-completion/completions
PKGCONFIGDIR ?= $(LIBDIR)/pkgconfig
# the template unit vdetect@.service: one instance per camera (README, "Running cameras as
# services"); systemd also reads units from /usr/local/lib/systemd/system. Its ExecStart=
# names $(BINDIR)/vdetect and the instance's config, $(SYSCONFDIR)/vdetect/NAME.conf: /etc,
# whatever the prefix, as a system service's configuration is looked for there (make
# install puts nothing in it; SYSCONFDIR=$(PREFIX)/etc keeps it under the prefix)
SYSTEMDUNITDIR ?= $(PREFIX)/lib/systemd/system
SYSCONFDIR ?= /etc
INSTALL    ?= install
OBJCOPY    ?= objcopy
LDCONFIG   ?= /sbin/ldconfig

# refresh the dynamic linker's cache after a real (not staged) install or uninstall as
# root; LDCONFIG= skips it
run-ldconfig = $(if $(LDCONFIG),@if [ -z "$(DESTDIR)" ] && [ -w /etc/ld.so.cache ] && \
    command -v $(firstword $(LDCONFIG)) >/dev/null; then $(LDCONFIG); fi)

VERSION    := $(shell sed -n 's/.*define VDETECT_VERSION "\(.*\)"/\1/p' app/app.h)
SOMAJOR    := $(word 1,$(subst ., ,$(VERSION)))
SOMINOR    := $(word 2,$(subst ., ,$(VERSION)))
SONAME     := libvdetect.so.$(SOMAJOR)
SOFILE     := libvdetect.so.$(SOMAJOR).$(SOMINOR)
PIC_BUILD  ?= $(BUILD)-pic
PIC_OBJ    := $(patsubst %.c,$(PIC_BUILD)/%.o,$(MODEL_SRC))
INST       := $(BUILD)/install
INST_BIN   := $(INST)/vdetect
ASSETS     := assets/demo.vdm assets/demo-labels.txt assets/sample.mp4
UNIT       := vdetect@.service

lib: $(BUILD)/libvdetect.a $(PIC_BUILD)/$(SOFILE)

$(PIC_BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(call pkg_cflags,$(MODEL_PKGS)) -fPIC -MMD -MP -c -o $@ $<

$(BUILD)/libvdetect.o: $(MODEL_OBJ)
	$(LD) -r -o $@ $^
	$(OBJCOPY) --wildcard --keep-global-symbol='model_*' $@

$(BUILD)/libvdetect.a: $(BUILD)/libvdetect.o
	rm -f $@
	$(AR) rcs $@ $^

$(PIC_BUILD)/$(SOFILE): $(PIC_OBJ) model/libvdetect.map
	$(CC) $(CFLAGS) -shared -Wl,-soname,$(SONAME) -Wl,--version-script=model/libvdetect.map \
	    -Wl,--no-undefined -o $@ $(PIC_OBJ) $(shell pkg-config --libs $(MODEL_PKGS) 2>/dev/null) $(MODEL_LIBS) -lm -pthread

# the data directory compiled into the installed program: rewritten (and the program
# relinked) only when it changes
$(INST)/datadir: FORCE
	@mkdir -p $(dir $@)
	@echo '$(DATADIR)' | cmp -s - $@ || echo '$(DATADIR)' > $@

$(INST)/cli_model.o: app/cli_model.c $(INST)/datadir
	$(CC) $(CFLAGS) $(call pkg_cflags,$(APP_PKGS)) -DVDETECT_DATADIR='"$(DATADIR)"' -MMD -MP -c -o $@ $<

$(INST_BIN): $(INST)/cli_model.o $(filter-out $(BUILD)/app/cli_model.o,$(APP_OBJ) $(LIB_OBJ))
	$(CC) $(CFLAGS) -o $@ $(sort $^) $(LDLIBS)

$(INST)/vdetect.pc: FORCE
	@mkdir -p $(dir $@)
	printf '%s\n' 'prefix=$(PREFIX)' 'exec_prefix=$${prefix}' \
	    'libdir=$(patsubst $(PREFIX)/%,$${prefix}/%,$(LIBDIR))' \
	    'includedir=$(patsubst $(PREFIX)/%,$${prefix}/%,$(INCLUDEDIR))' \
	    'datadir=$(patsubst $(PREFIX)/%,$${prefix}/%,$(DATADIR))' '' \
	    'Name: vdetect' \
	    'Description: torchvision Faster R-CNN inference in C (the vdetect detector)' \
	    'Version: $(VERSION)' \
	    'Requires.private: $(MODEL_PKGS)' \
	    'Libs: -L$${libdir} -lvdetect' \
	    'Libs.private: $(MODEL_LIBS) -lm -pthread' \
	    'Cflags: -I$${includedir}' > $@

# the unit with this install's paths in place of @BINDIR@, @SYSCONFDIR@ and @DATADIR@
# (rewritten every time: it is small, and the paths may differ from the last install's)
$(INST)/$(UNIT): scripts/$(UNIT) FORCE
	@mkdir -p $(dir $@)
	sed -e 's|@BINDIR@|$(BINDIR)|g' -e 's|@SYSCONFDIR@|$(SYSCONFDIR)|g' \
	    -e 's|@DATADIR@|$(DATADIR)|g' scripts/$(UNIT) > $@
	@if grep -n '@[A-Z][A-Z_]*@' $@; then echo "$@: a placeholder left unsubstituted" >&2; rm -f $@; exit 1; fi

install: $(INST_BIN) lib $(INST)/vdetect.pc $(INST)/$(UNIT)
	$(INSTALL) -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(LIBDIR) $(DESTDIR)$(PKGCONFIGDIR) \
	    $(DESTDIR)$(INCLUDEDIR)/vdetect $(DESTDIR)$(DATADIR) $(DESTDIR)$(MANDIR)/man1 \
	    $(DESTDIR)$(BASHCOMPDIR) $(DESTDIR)$(SYSTEMDUNITDIR)
	$(INSTALL) -m 755 $(INST_BIN) $(DESTDIR)$(BINDIR)/vdetect
	$(INSTALL) -m 644 $(BUILD)/libvdetect.a $(DESTDIR)$(LIBDIR)/libvdetect.a
	$(INSTALL) -m 755 $(PIC_BUILD)/$(SOFILE) $(DESTDIR)$(LIBDIR)/$(SOFILE)
	ln -sf $(SOFILE) $(DESTDIR)$(LIBDIR)/$(SONAME)
	ln -sf $(SONAME) $(DESTDIR)$(LIBDIR)/libvdetect.so
	$(INSTALL) -m 644 $(INST)/vdetect.pc $(DESTDIR)$(PKGCONFIGDIR)/vdetect.pc
	$(INSTALL) -m 644 model/model.h $(DESTDIR)$(INCLUDEDIR)/vdetect/model.h
	$(INSTALL) -m 644 $(ASSETS) $(DESTDIR)$(DATADIR)/
	$(INSTALL) -m 644 docs/vdetect.1 $(DESTDIR)$(MANDIR)/man1/vdetect.1
	$(INSTALL) -m 644 docs/vdetect.bash-completion $(DESTDIR)$(BASHCOMPDIR)/vdetect
	$(INSTALL) -m 644 $(INST)/$(UNIT) $(DESTDIR)$(SYSTEMDUNITDIR)/$(UNIT)
	$(INSTALL) -m 644 scripts/camera.conf.example $(DESTDIR)$(DATADIR)/camera.conf.example
	$(run-ldconfig)

uninstall:
	rm -f $(DESTDIR)$(BINDIR)/vdetect $(DESTDIR)$(LIBDIR)/libvdetect.a \
	    $(DESTDIR)$(LIBDIR)/$(SOFILE) $(DESTDIR)$(LIBDIR)/$(SONAME) $(DESTDIR)$(LIBDIR)/libvdetect.so \
	    $(DESTDIR)$(PKGCONFIGDIR)/vdetect.pc $(DESTDIR)$(INCLUDEDIR)/vdetect/model.h \
	    $(addprefix $(DESTDIR)$(DATADIR)/,$(notdir $(ASSETS)) camera.conf.example) \
	    $(DESTDIR)$(MANDIR)/man1/vdetect.1 $(DESTDIR)$(BASHCOMPDIR)/vdetect \
	    $(DESTDIR)$(SYSTEMDUNITDIR)/$(UNIT)
	@for d in $(DESTDIR)$(INCLUDEDIR)/vdetect $(DESTDIR)$(DATADIR); do \
	    if [ -d "$$d" ]; then rmdir "$$d" 2>/dev/null || echo "kept $$d (not empty)"; fi; done
	$(run-ldconfig)

FORCE:

clean:
	rm -rf build build-asan build-tsan build-fuzz build-pic vdetect

-include $(shell find $(BUILD) $(PIC_BUILD) -name '*.d' 2>/dev/null)
