/* SPDX-License-Identifier: MIT */
/*
 * Live capture: loads the BPF programs, attaches them, and turns ring
 * buffer records into capture events (event.h) for a sink.
 */
#ifndef LLMTAP_CAPTURE_H
#define LLMTAP_CAPTURE_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include <jansson.h>

#include "event.h"

#define CAPTURE_DEFAULT_CAP_BYTES (4u << 20)
#define CAPTURE_DEFAULT_RINGBUF_BYTES (32u << 20)
#define CAPTURE_PLAIN_PORTS_MAX 64

/* Local model servers speak plain HTTP: Ollama, vLLM, llama.cpp. */
#define CAPTURE_DEFAULT_PLAIN_PORTS "11434,8000,8080"

struct capture_opts {
	pid_t pid;	/* 0: every process */
	int64_t uid;	/* -1: every user */
	const char *comm;	/* NULL: every command */
	uint64_t cap_bytes;	/* per-call cut; 0: the default */
	uint64_t ringbuf_bytes;	/* 0: the default */
	/* Plain-HTTP ports, comma-separated; NULL: the default list,
	 * "" or "none": none. */
	const char *plain_ports;
	/* Do not hold execs until their binary is attached (execgate.h). */
	bool no_exec_gate;
};

/* Parses a port list as --plain-ports takes it. Returns the count, or
 * -EINVAL (logged) on a bad list. */
int capture_parse_ports(const char *list, uint16_t *ports, int max);

struct capture;

/* Checks the start conditions (root, BTF, uprobes, a TLS library),
 * loads and attaches. Logs one clear line and returns NULL when one
 * does not hold. */
struct capture *capture_open(const struct capture_opts *opts,
			     const struct ev_sink *sink);

/* Delivers what arrived within timeout_ms. Returns records handled or
 * a negative errno; -EINTR is not an error. */
int capture_poll(struct capture *c, int timeout_ms);

/* Reads the kernel's loss counters; a change goes to the sink's
 * on_loss and, when anything was lost, to the log. */
void capture_report_losses(struct capture *c);

/* What is attached, for /healthz: {"targets": [...], "exec_gate"}.
 * Safe from another thread. */
json_t *capture_health(struct capture *c);

/* Detaches everything; delivers what is still in the ring buffer. */
void capture_close(struct capture *c);

#endif /* LLMTAP_CAPTURE_H */
