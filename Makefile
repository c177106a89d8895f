# SET payment system: one plain GNU Makefile.
#
#   make                  build the debug variant (build/debug/)
#   make check            build, then run the unit and integration tests
#   make asan             the same suite under AddressSanitizer + UBSan
#   make demo             run the scripted end-to-end demo on loopback
#   make release          optimised build (build/release/)
#   make format           reformat the sources with clang-format
#   make format-check     fail if any source is not clang-formatted
#   make deps             install missing Debian packages (as root)
#
# Each variant builds into its own folder so objects never mix.

VARIANT ?= debug
BUILD := build/$(VARIANT)

PKGS := openssl libevent_core libevent_extra libevent_openssl sqlite3 jansson

CC ?= cc
WARN := -Wall -Wextra -Werror -Wno-unused-parameter -Wshadow -Wformat=2 \
	-Wstrict-prototypes -Wmissing-prototypes -Wpointer-arith -Wvla \
	-Wundef -Wcast-qual -Wwrite-strings -Wnull-dereference
BASE_CFLAGS := -std=c11 -D_DEFAULT_SOURCE -D_POSIX_C_SOURCE=200809L \
	-Icommon -MMD -MP $(WARN)

ifeq ($(VARIANT),debug)
VFLAGS := -O0 -g
else ifeq ($(VARIANT),release)
VFLAGS := -O2 -DNDEBUG -D_FORTIFY_SOURCE=2 -fstack-protector-strong
else ifeq ($(VARIANT),asan)
VFLAGS := -O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined \
	-fno-sanitize-recover=all
VLDFLAGS := -fsanitize=address,undefined
else
$(error unknown VARIANT '$(VARIANT)': use debug, release or asan)
endif

# Package flags are looked up only when something is being compiled, so that
# `make deps` works on a machine that has none of the packages yet.
PKG_CFLAGS = $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS = $(shell pkg-config --libs $(PKGS) 2>/dev/null)

ALL_CFLAGS = $(BASE_CFLAGS) $(VFLAGS) $(PKG_CFLAGS) $(CFLAGS)
ALL_LDFLAGS = $(VLDFLAGS) $(LDFLAGS)
LIBS = $(PKG_LIBS) -lm

COMMON_SRC := $(wildcard common/*.c)
COMMON_OBJ := $(COMMON_SRC:%.c=$(BUILD)/%.o)
LIBCOMMON := $(BUILD)/libsetcommon.a

# Each component folder builds one program: folder -> program name.
COMPONENTS := ca:set-ca issuer-sim:set-issuer cardholder:set-wallet \
	merchant:set-merchant gateway:set-gateway acquirer-sim:set-acquirer
comp_dir = $(word 1,$(subst :, ,$(1)))
comp_bin = $(word 2,$(subst :, ,$(1)))
# Only folders that hold sources yet.
PRESENT := $(foreach c,$(COMPONENTS),$(if $(wildcard $(call comp_dir,$(c))/*.c),$(c)))
BINS := $(foreach c,$(PRESENT),$(BUILD)/bin/$(call comp_bin,$(c)))
COMP_OBJ := $(foreach c,$(PRESENT),$(patsubst %.c,$(BUILD)/%.o,$(wildcard $(call comp_dir,$(c))/*.c)))

UNIT_SRC := $(wildcard tests/unit/test_*.c)
UNIT_BIN := $(UNIT_SRC:tests/unit/%.c=$(BUILD)/tests/%)
UNIT_LIB := $(BUILD)/tests/unit.o

TOOL_SRC := $(wildcard tests/tools/*.c)
TOOL_BIN := $(TOOL_SRC:tests/tools/%.c=$(BUILD)/tests/%)
# Code the test programs share (test tooling only, never in a daemon).
SUPPORT_SRC := $(wildcard tests/tools/support/*.c)
SUPPORT_OBJ := $(SUPPORT_SRC:%.c=$(BUILD)/%.o)

.PHONY: all check unit integration asan release demo deps deps-check \
	format format-check clean
.DEFAULT_GOAL := all

all: deps-check $(BINS) $(UNIT_BIN) $(TOOL_BIN)

release:
	$(MAKE) VARIANT=release all

# deps-check installs what is missing when run as root, otherwise it stops
# with the exact apt-get command to run.
deps-check:
	@tests/deps.sh build

deps:
	@tests/deps.sh build test

$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -c -o $@ $<

$(LIBCOMMON): $(COMMON_OBJ)
	@rm -f $@
	$(AR) rcs $@ $^

define PROGRAM_RULE
$(BUILD)/bin/$(call comp_bin,$(1)): $(patsubst %.c,$(BUILD)/%.o,$(wildcard $(call comp_dir,$(1))/*.c)) $(LIBCOMMON)
	@mkdir -p $$(dir $$@)
	$$(CC) $$(ALL_LDFLAGS) -o $$@ $$(filter %.o,$$^) $(LIBCOMMON) $$(LIBS)
endef
$(foreach c,$(PRESENT),$(eval $(call PROGRAM_RULE,$(c))))

$(UNIT_LIB): tests/unit/unit.c tests/unit/unit.h
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -Itests/unit -c -o $@ $<

$(BUILD)/tests/test_%: tests/unit/test_%.c $(UNIT_LIB) $(LIBCOMMON)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -Itests/unit $(ALL_LDFLAGS) -o $@ $< $(UNIT_LIB) \
		$(LIBCOMMON) $(LIBS)

$(BUILD)/tests/%: tests/tools/%.c $(SUPPORT_OBJ) $(LIBCOMMON)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -Itests/tools/support $(ALL_LDFLAGS) -o $@ $< \
		$(SUPPORT_OBJ) $(LIBCOMMON) $(LIBS)

# The whole suite: unit tests, then the integration tests against the real
# daemons. It closes with one line "N passed, N failed".
check: all
	@tests/deps.sh test
	@tests/run.sh $(BUILD)

unit: all
	@tests/run.sh --unit $(BUILD)

integration: all
	@tests/deps.sh test
	@tests/run.sh --integration $(BUILD)

asan:
	$(MAKE) VARIANT=asan check

demo: all
	@tests/deps.sh test
	@tests/demo.sh $(BUILD)

FORMAT_SRC = $(wildcard common/*.[ch] tests/unit/*.[ch] tests/tools/*.c \
	tests/tools/support/*.[ch] \
	$(foreach c,$(COMPONENTS),$(call comp_dir,$(c))/*.[ch]))

format:
	clang-format -i $(FORMAT_SRC)

format-check:
	@clang-format --dry-run --Werror $(FORMAT_SRC) && \
		echo "format-check: all sources are clang-formatted"

clean:
	rm -rf build

-include $(COMMON_OBJ:.o=.d) $(COMP_OBJ:.o=.d) $(SUPPORT_OBJ:.o=.d)
