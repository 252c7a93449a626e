# llmtap: watch LLM API traffic through eBPF uprobes on TLS libraries.
#
#   make          build build/llmtap
#   make run      install missing packages, build, start the daemon
#   make test     install missing packages, build, run every test
#   make deps     install missing Debian packages (as root)

BUILD := build
CLANG ?= clang
BPFTOOL ?= bpftool
CC ?= cc
ARCH := $(shell uname -m | sed 's/x86_64/x86/;s/aarch64/arm64/')

# Debian packages the build, the daemon and the tests need.
DEPS_BUILD := clang llvm bpftool libbpf-dev libelf-dev zlib1g-dev \
	libjansson-dev libssl-dev libnghttp2-dev libbrotli-dev libzstd-dev \
	libcmocka-dev libcapstone-dev libsqlite3-dev libmicrohttpd-dev \
	pkg-config make gcc
DEPS_TEST := curl openssl python3 python3-httpx python3-requests python3-h2 \
	nodejs npm iproute2 prometheus golang-go wget

WARN := -Wall -Wextra -Werror -Wno-unused-parameter -Wshadow \
	-Wformat=2 -Wstrict-prototypes
CFLAGS ?= -O2 -g
CFLAGS += $(WARN) -std=gnu11 -D_GNU_SOURCE -MMD -MP \
	-Iinclude -Iuser -I$(BUILD)
LDLIBS := -lbpf -lelf -lz -ljansson -lcrypto -lnghttp2 -lcapstone \
	-lbrotlidec -lzstd -lsqlite3 -lmicrohttpd -lm

BPF_SRCS := $(wildcard bpf/*.bpf.c)
BPF_OBJS := $(patsubst bpf/%.bpf.c,$(BUILD)/%.bpf.o,$(BPF_SRCS))
SKELS := $(patsubst bpf/%.bpf.c,$(BUILD)/%.skel.h,$(BPF_SRCS))

USER_SRCS := $(wildcard user/*.c)
USER_OBJS := $(patsubst user/%.c,$(BUILD)/obj/%.o,$(USER_SRCS))
# Objects that include a BPF skeleton; unit tests link everything else.
BPF_USER_OBJS := $(BUILD)/obj/main.o $(BUILD)/obj/capture.o \
	$(BUILD)/obj/cmd_run.o $(BUILD)/obj/cmd_record.o \
	$(BUILD)/obj/attach.o $(BUILD)/obj/execgate.o
LIB_OBJS := $(filter-out $(BPF_USER_OBJS),$(USER_OBJS))

UNIT_SRCS := $(wildcard tests/unit/test_*.c)
UNIT_BINS := $(patsubst tests/unit/%.c,$(BUILD)/tests/%,$(UNIT_SRCS))

.PHONY: all deps run test unit e2e e2e-deps clean format-check
.SECONDARY:
all: $(BUILD)/llmtap

# vmlinux.h: the running kernel's BTF when there is one, else the
# committed x86_64 copy (CO-RE relocates field offsets at load time).
$(BUILD)/vmlinux.h:
	@mkdir -p $(BUILD)
	@if [ -r /sys/kernel/btf/vmlinux ]; then \
		$(BPFTOOL) btf dump file /sys/kernel/btf/vmlinux format c > $@; \
	else \
		cp vmlinux/vmlinux_x86_64.h $@; \
	fi

$(BUILD)/%.bpf.o: bpf/%.bpf.c $(BUILD)/vmlinux.h include/llmtap.h
	$(CLANG) -g -O2 -target bpf -D__TARGET_ARCH_$(ARCH) -D__BPF__ \
		-Wall -Werror -Iinclude -I$(BUILD) -c $< -o $@

$(BUILD)/%.skel.h: $(BUILD)/%.bpf.o
	$(BPFTOOL) gen skeleton $< > $@

$(BUILD)/obj/%.o: user/%.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -c $< -o $@

$(BPF_USER_OBJS): | $(SKELS)

$(BUILD)/llmtap: $(USER_OBJS)
	$(CC) $(CFLAGS) $^ $(LDLIBS) -o $@

$(BUILD)/tests/%: tests/unit/%.c $(LIB_OBJS)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $< $(LIB_OBJS) $(LDLIBS) -lcmocka -o $@

deps:
	@tools/deps.sh $(DEPS_BUILD) -- $(DEPS_TEST)

run: deps
	$(MAKE) all
	$(BUILD)/llmtap run

test: deps e2e-deps
	$(MAKE) all $(UNIT_BINS)
	tests/run.sh

# The official SDKs the end-to-end tests drive, pinned by the lock file.
CLIENTS := tests/e2e/clients
e2e-deps:
	@[ -d $(CLIENTS)/node_modules ] || \
		npm ci --prefix $(CLIENTS) --no-audit --no-fund

unit: all $(UNIT_BINS)
	tests/run.sh --unit

e2e: all e2e-deps
	tests/run.sh --e2e

format-check:
	clang-format --dry-run -Werror bpf/*.c user/*.c user/*.h include/*.h

clean:
	rm -rf $(BUILD)

-include $(wildcard $(BUILD)/obj/*.d $(BUILD)/tests/*.d)
