// SPDX-License-Identifier: MIT
/* llmtap: one binary, subcommands. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"
#include "log.h"

volatile sig_atomic_t cli_stop;
volatile sig_atomic_t cli_reload;

static const char usage[] =
	"usage: llmtap COMMAND [OPTIONS]\n"
	"\n"
	"Watches the LLM API calls every process on this host makes, by\n"
	"reading TLS plaintext with eBPF uprobes. No proxy, no SDK.\n"
	"\n"
	"commands:\n"
	"  run       the daemon: one JSON line per LLM call\n"
	"  record    write the raw capture to a file (JSON lines)\n"
	"  replay    run a recording through the same pipeline as run\n"
	"  query     requests, errors, tokens, cost per user, model, ...\n"
	"  calls     the stored calls, newest first\n"
	"  sessions  sessions, declared and inferred\n"
	"  session   one session's tree of steps\n"
	"  users     per user: requests, cost, error rate, active days\n"
	"  cache     prompt-cache savings and exact repeat requests\n"
	"  top       a live terminal view of a running daemon\n"
	"  check-config  check a configuration file (alerts, notifiers)\n"
	"\n"
	"Run 'llmtap COMMAND --help' for a command's options.\n";

static void on_signal(int sig)
{
	if (sig == SIGHUP)
		cli_reload = 1;
	else
		cli_stop = 1;
}

void cli_install_signals(void)
{
	struct sigaction sa = { .sa_handler = on_signal };

	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
}

void cli_install_reload(void)
{
	struct sigaction sa = { .sa_handler = on_signal };

	sigemptyset(&sa.sa_mask);
	sigaction(SIGHUP, &sa, NULL);
}

static int parse_u64(const char *arg, uint64_t *out)
{
	char *end;

	errno = 0;
	*out = strtoull(arg, &end, 10);
	return errno || end == arg || *end || arg[0] == '-' ? -1 : 0;
}

int cli_capture_opt(int opt, const char *arg, struct capture_opts *o)
{
	uint64_t v;

	switch (opt) {
	case 'p':
	case 'u':
	case 'C':
	case 'R':
		if (parse_u64(arg, &v)) {
			log_err("not a number: %s", arg);
			return -1;
		}
		break;
	case 'c':
		o->comm = arg;
		return 1;
	case 'G':
		o->no_exec_gate = true;
		return 1;
	case 'P': {
		uint16_t ports[CAPTURE_PLAIN_PORTS_MAX];

		if (capture_parse_ports(arg, ports, CAPTURE_PLAIN_PORTS_MAX) < 0)
			return -1;
		o->plain_ports = arg;
		return 1;
	}
	default:
		return 0;
	}
	if (opt == 'p')
		o->pid = (pid_t)v;
	else if (opt == 'u')
		o->uid = (int64_t)v;
	else if (opt == 'C')
		o->cap_bytes = v;
	else
		o->ringbuf_bytes = v;
	return 1;
}

static uint64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static uint64_t wall_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

int cli_capture_loop(struct capture *c, unsigned duration_s,
		     void (*tick)(void *ctx, uint64_t now_ns), void *ctx)
{
	uint64_t start = mono_ms(), last_tick = start;

	while (!cli_stop) {
		uint64_t now;
		int n = capture_poll(c, CLI_POLL_MS);

		if (n < 0)
			return n;
		now = mono_ms();
		if (now - last_tick >= CLI_HOUSEKEEPING_MS) {
			capture_report_losses(c);
			if (tick)
				tick(ctx, wall_ns());
			last_tick = now;
		}
		if (duration_s && now - start >= duration_s * 1000ull)
			break;
	}
	return 0;
}

int main(int argc, char **argv)
{
	const char *cmd = argc > 1 ? argv[1] : NULL;

	if (!cmd || !strcmp(cmd, "--help") || !strcmp(cmd, "-h") ||
	    !strcmp(cmd, "help")) {
		fputs(usage, cmd ? stdout : stderr);
		return cmd ? 0 : 2;
	}
	if (!strcmp(cmd, "run"))
		return cmd_run(argc - 1, argv + 1);
	if (!strcmp(cmd, "record"))
		return cmd_record(argc - 1, argv + 1);
	if (!strcmp(cmd, "replay"))
		return cmd_replay(argc - 1, argv + 1);
	if (!strcmp(cmd, "top"))
		return cmd_top(argc - 1, argv + 1);
	if (!strcmp(cmd, "check-config"))
		return cmd_check_config(argc - 1, argv + 1);
	if (cmd_query_is(cmd))
		return cmd_query(argc - 1, argv + 1);
	log_err("unknown command '%s'; see 'llmtap --help'", cmd);
	return 2;
}
