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
	libjansson-dev libjsmn-dev libssl-dev libnghttp2-dev libbrotli-dev \
	libzstd-dev libcmocka-dev libcapstone-dev libsqlite3-dev \
	libmicrohttpd-dev \
	libyaml-dev libcurl4-openssl-dev libncurses-dev xxd \
	libclang-rt-14-dev pkg-config make gcc
DEPS_TEST := curl openssl python3 python3-httpx python3-requests python3-h2 \
	nodejs npm iproute2 prometheus golang-go wget chromium tmux \
	man-db

WARN := -Wall -Wextra -Werror -Wno-unused-parameter -Wshadow \
	-Wformat=2 -Wstrict-prototypes
CFLAGS ?= -O2 -g
CFLAGS += $(WARN) -std=gnu11 -D_GNU_SOURCE -MMD -MP \
	-Iinclude -Iuser -I$(BUILD)
LDLIBS := -lbpf -lelf -lz -ljansson -lcrypto -lnghttp2 -lcapstone \
	-lbrotlidec -lzstd -lsqlite3 -lmicrohttpd -lyaml -lcurl -lpthread \
	-lncurses -lm

BPF_SRCS := $(wildcard bpf/*.bpf.c)
BPF_OBJS := $(patsubst bpf/%.bpf.c,$(BUILD)/%.bpf.o,$(BPF_SRCS))
SKELS := $(patsubst bpf/%.bpf.c,$(BUILD)/%.skel.h,$(BPF_SRCS))

USER_SRCS := $(wildcard user/*.c)
USER_OBJS := $(patsubst user/%.c,$(BUILD)/obj/%.o,$(USER_SRCS))
# Objects that include a BPF skeleton; unit tests link everything else.
BPF_USER_OBJS := $(BUILD)/obj/main.o $(BUILD)/obj/capture.o \
	$(BUILD)/obj/cmd_run.o $(BUILD)/obj/cmd_record.o \
	$(BUILD)/obj/attach.o $(BUILD)/obj/execgate.o \
	$(BUILD)/obj/block.o $(BUILD)/obj/quota_run.o
# The dashboard's files (user/web/), built into the binary.
WEB_SRCS := $(sort $(wildcard user/web/*))
WEB_OBJ := $(BUILD)/obj/web_assets.o
USER_OBJS += $(WEB_OBJ)
LIB_OBJS := $(filter-out $(BPF_USER_OBJS),$(USER_OBJS))

UNIT_SRCS := $(wildcard tests/unit/test_*.c)
UNIT_BINS := $(patsubst tests/unit/%.c,$(BUILD)/tests/%,$(UNIT_SRCS))

.PHONY: all deps run test unit e2e e2e-deps clean format-check fuzz bench
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

$(BUILD)/web_assets.c: $(WEB_SRCS) tools/web-assets.sh
	@mkdir -p $(dir $@)
	tools/web-assets.sh $(WEB_SRCS) > $@.tmp && mv $@.tmp $@

$(WEB_OBJ): $(BUILD)/web_assets.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -c $< -o $@

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
	$(MAKE) all $(UNIT_BINS) fuzz
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

# libFuzzer targets (tests/fuzz/fuzz_*.c), built with clang, ASan and
# UBSan into build/fuzz/ from their own copies of the user objects.
# tools/fuzz.sh [SECONDS] runs each one.
FUZZ_SRCS := $(wildcard tests/fuzz/fuzz_*.c)
FUZZ_BINS := $(patsubst tests/fuzz/%.c,$(BUILD)/fuzz/%,$(FUZZ_SRCS))
FUZZ_LIB_SRCS := $(filter-out \
	$(patsubst $(BUILD)/obj/%.o,user/%.c,$(BPF_USER_OBJS)),$(USER_SRCS))
FUZZ_OBJS := $(patsubst user/%.c,$(BUILD)/fuzz/obj/%.o,$(FUZZ_LIB_SRCS))
FUZZ_CFLAGS := -O1 -g -fno-omit-frame-pointer \
	-fsanitize=address,undefined -fno-sanitize-recover=undefined \
	-std=gnu11 -D_GNU_SOURCE -MMD -MP -Iinclude -Iuser -I$(BUILD)

$(BUILD)/fuzz/obj/%.o: user/%.c
	@mkdir -p $(dir $@)
	$(CLANG) $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link -c $< -o $@

# An archive, so each target links only the objects it needs.
$(BUILD)/fuzz/libllmtap.a: $(FUZZ_OBJS)
	rm -f $@ && ar rcs $@ $^

$(BUILD)/fuzz/fuzz_%: tests/fuzz/fuzz_%.c $(BUILD)/fuzz/libllmtap.a
	$(CLANG) $(FUZZ_CFLAGS) -fsanitize=fuzzer $< \
		$(BUILD)/fuzz/libllmtap.a $(LDLIBS) -o $@

fuzz: $(FUZZ_BINS)

# The benchmarks (README.md, Performance); root, BPF, nginx, bpftrace.
bench: all
	@tools/deps.sh bpftrace nginx-light
	tools/bench.sh

-include $(wildcard $(BUILD)/fuzz/*.d $(BUILD)/fuzz/obj/*.d)

format-check:
	clang-format --dry-run -Werror bpf/*.c user/*.c user/*.h include/*.h

# Install: the binary, the man page, the systemd unit (pointing at the
# installed binary) and the example configuration. An existing
# /etc/llmtap/llmtap.yaml is never touched; data and logs stay on
# uninstall. DESTDIR stages into a tree, for packaging and tests.
PREFIX ?= /usr/local
SYSCONFDIR ?= /etc
SBINDIR := $(PREFIX)/sbin
MAN8DIR := $(PREFIX)/share/man/man8
UNITDIR ?= $(PREFIX)/lib/systemd/system
EXAMPLE_CONFIG := $(wildcard tools/llmtap.example.yaml)

.PHONY: install uninstall
install: $(BUILD)/llmtap
	install -D -m 0755 $(BUILD)/llmtap $(DESTDIR)$(SBINDIR)/llmtap
	install -D -m 0644 tools/llmtap.8 $(DESTDIR)$(MAN8DIR)/llmtap.8
	install -d -m 0755 $(DESTDIR)$(UNITDIR)
	sed 's#/usr/local/sbin/llmtap#$(SBINDIR)/llmtap#' tools/llmtap.service \
		> $(DESTDIR)$(UNITDIR)/llmtap.service
	chmod 0644 $(DESTDIR)$(UNITDIR)/llmtap.service
	install -d -m 0755 $(DESTDIR)$(SYSCONFDIR)/llmtap
	$(if $(EXAMPLE_CONFIG),install -m 0644 $(EXAMPLE_CONFIG) \
		$(DESTDIR)$(SYSCONFDIR)/llmtap/llmtap.yaml.example)
	install -d -m 0750 $(DESTDIR)/var/lib/llmtap $(DESTDIR)/var/log/llmtap

uninstall:
	rm -f $(DESTDIR)$(SBINDIR)/llmtap $(DESTDIR)$(MAN8DIR)/llmtap.8 \
		$(DESTDIR)$(UNITDIR)/llmtap.service \
		$(DESTDIR)$(SYSCONFDIR)/llmtap/llmtap.yaml.example
	-rmdir $(DESTDIR)$(SYSCONFDIR)/llmtap 2>/dev/null

clean:
	rm -rf $(BUILD)

-include $(wildcard $(BUILD)/obj/*.d $(BUILD)/tests/*.d)
