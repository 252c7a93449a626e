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

/* The capture options run and record share: getopt_long entries, the
 * short-option letters, and their help text. */
#define CLI_CAPTURE_LONG_OPTS                                   \
	{ "duration", required_argument, NULL, 'd' },           \
	{ "pid", required_argument, NULL, 'p' },                \
	{ "comm", required_argument, NULL, 'c' },               \
	{ "uid", required_argument, NULL, 'u' },                \
	{ "cap-bytes", required_argument, NULL, 'C' },          \
	{ "ringbuf-bytes", required_argument, NULL, 'R' },      \
	{ "plain-ports", required_argument, NULL, 'P' },        \
	{ "no-exec-gate", no_argument, NULL, 'G' },             \
	{ "verbose", no_argument, NULL, 'v' },                  \
	{ "help", no_argument, NULL, 'h' }

#define CLI_CAPTURE_SHORT_OPTS "d:p:c:u:C:R:P:Gvh"

#define CLI_CAPTURE_USAGE                                                 \
	"  -d, --duration SEC      stop after SEC seconds (default: at\n"  \
	"                          SIGINT or SIGTERM)\n"                   \
	"  -p, --pid PID           only this process\n"                    \
	"  -c, --comm NAME         only processes with this command name\n" \
	"  -u, --uid UID           only processes of this user\n"          \
	"  -C, --cap-bytes N       cut each TLS call after N bytes\n"      \
	"                          (default 4194304); the cut is counted\n" \
	"  -R, --ringbuf-bytes N   ring buffer size, a power of two\n"     \
	"                          (default 33554432)\n"                   \
	"  -P, --plain-ports LIST  plain-HTTP ports of local model servers\n" \
	"                          (default 11434,8000,8080; 'none')\n"    \
	"  -G, --no-exec-gate      do not hold new programs until they are\n" \
	"                          attached (their first calls may be\n"  \
	"                          missed)\n"                              \
	"  -v, --verbose           debug logging, with libbpf's messages\n" \
	"  -h, --help              this text\n"

extern volatile sig_atomic_t cli_stop;
/* Set by SIGHUP: run reloads its configuration and clears it. */
extern volatile sig_atomic_t cli_reload;

void cli_install_signals(void);
/* SIGHUP sets cli_reload instead of ending the process. */
void cli_install_reload(void);

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
/* query, calls, sessions, session, users, cache: argv[0] names one. */
int cmd_query(int argc, char **argv);
bool cmd_query_is(const char *name);
/* A live view of a running daemon, from its HTTP API. */
int cmd_top(int argc, char **argv);
/* Checks a configuration file (config.h). */
int cmd_check_config(int argc, char **argv);

#endif /* LLMTAP_CLI_H */
