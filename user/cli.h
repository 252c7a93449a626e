/* SPDX-License-Identifier: MIT */
/* The subcommands and what they share. */
#ifndef LLMTAP_CLI_H
#define LLMTAP_CLI_H

#include <signal.h>
#include <stdbool.h>
#include <stdint.h>

#include "capture.h"
#include "event.h"

/* How long one wait for ring-buffer records may take: the bound on
 * how late a record is seen, since BPF wakes us only in batches. */
#define CLI_POLL_MS 10
/* How often losses are read and idle connections expire. */
#define CLI_HOUSEKEEPING_MS 1000

extern volatile sig_atomic_t cli_stop;

void cli_install_signals(void);

/* Parses --pid/--comm/--uid/--cap-bytes/--ringbuf-bytes into o. Returns
 * 1 if opt was one of them, 0 if not, -1 on a bad value (logged). */
int cli_capture_opt(int opt, const char *arg, struct capture_opts *o);

/* Polls until a signal or duration_s seconds (0: no limit), calling
 * tick every CLI_HOUSEKEEPING_MS. Returns 0 or a negative errno. */
int cli_capture_loop(struct capture *c, unsigned duration_s,
		     void (*tick)(void *ctx, uint64_t now_ns), void *ctx);

int cmd_record(int argc, char **argv);
int cmd_run(int argc, char **argv);
int cmd_replay(int argc, char **argv);

#endif /* LLMTAP_CLI_H */
