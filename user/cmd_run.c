// SPDX-License-Identifier: MIT
/*
 * llmtap run and llmtap replay: capture events (live or recorded)
 * through HTTP reassembly and the provider parsers to one JSON line
 * per LLM call. Both build the same stack, so a recording exercises
 * exactly what the daemon runs.
 */
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "calls.h"
#include "capture.h"
#include "cli.h"
#include "log.h"
#include "pipeline.h"
#include "record.h"

static const char run_usage[] =
	"usage: llmtap run [options]\n"
	"\n"
	"The daemon: watches every process's TLS traffic and writes one\n"
	"JSON line per LLM API call (see README.md, 'Output').\n"
	"\n"
	"  -o, --output FILE       where to write calls (default stdout)\n"
	"      --rotate-bytes N    start FILE.1 when FILE reaches N bytes\n"
	"      --rotate-keep N     rotated files kept (default 5)\n"
	"      --pricing FILE      prices that override the shipped table\n"
	"      --bodies            add request and response bodies\n"
	"      --body-limit N      cut each body at N bytes\n"
	CLI_CAPTURE_USAGE;

static const char replay_usage[] =
	"usage: llmtap replay [options] FILE\n"
	"\n"
	"Feeds a recording made by 'llmtap record' ('-' for stdin) through\n"
	"the pipeline 'llmtap run' uses, and writes the calls it finds.\n"
	"\n"
	"  -o, --output FILE       where to write calls (default stdout)\n"
	"      --pricing FILE      prices that override the shipped table\n"
	"      --bodies            add request and response bodies\n"
	"      --body-limit N      cut each body at N bytes\n"
	"  -v, --verbose           debug logging\n"
	"  -h, --help              this text\n";

enum {
	OPT_ROTATE_BYTES = 256,
	OPT_ROTATE_KEEP,
	OPT_PRICING,
	OPT_BODIES,
	OPT_BODY_LIMIT,
};

static const struct option run_opts[] = {
	{ "output", required_argument, NULL, 'o' },
	{ "rotate-bytes", required_argument, NULL, OPT_ROTATE_BYTES },
	{ "rotate-keep", required_argument, NULL, OPT_ROTATE_KEEP },
	{ "pricing", required_argument, NULL, OPT_PRICING },
	{ "bodies", no_argument, NULL, OPT_BODIES },
	{ "body-limit", required_argument, NULL, OPT_BODY_LIMIT },
	CLI_CAPTURE_LONG_OPTS,
	{ 0 },
};

/* The stages after capture. */
struct stack {
	struct calls *calls;
	struct pipeline *pipe;
};

struct run_args {
	struct calls_opts calls;
	struct capture_opts capture;
	unsigned duration;
};

/* live: the pids are this host's, so /proc may name them. A replay's
 * pids belong to the recording host and must not be looked up here. */
static int stack_open(struct stack *s, const struct calls_opts *co,
		      bool live)
{
	struct pipeline_opts po = { .no_procfs = !live };

	s->calls = calls_new(co);
	if (!s->calls)
		return -1;
	po.sink = calls_sink(s->calls);
	s->pipe = pipeline_new(&po);
	if (!s->pipe) {
		log_err("out of memory starting the pipeline");
		calls_free(s->calls);
		return -1;
	}
	return 0;
}

/* Frees the pipeline first: it flushes open exchanges as incomplete,
 * and those still need the calls stage. */
static void stack_close(struct stack *s)
{
	struct calls_stats st;

	pipeline_free(s->pipe);
	calls_stats(s->calls, &st);
	log_info("%" PRIu64 " LLM calls written (%" PRIu64 " failed, %"
		 PRIu64 " incomplete), %" PRIu64 " other HTTP exchanges",
		 st.llm_calls, st.failed, st.incomplete, st.not_llm);
	calls_free(s->calls);
}

static void stack_tick(void *ctx, uint64_t now_ns)
{
	struct stack *s = ctx;

	pipeline_tick(s->pipe, now_ns);
}

/* Options run and replay share; 1 if opt was one, -1 on error. */
static int output_opt(int opt, const char *arg, struct calls_opts *co)
{
	switch (opt) {
	case 'o':
		co->out_path = arg;
		return 1;
	case OPT_ROTATE_BYTES:
		co->rotate_bytes = strtoull(arg, NULL, 10);
		return 1;
	case OPT_ROTATE_KEEP:
		co->rotate_keep = atoi(arg);
		return 1;
	case OPT_PRICING:
		co->pricing_path = arg;
		return 1;
	case OPT_BODIES:
		co->bodies = true;
		return 1;
	case OPT_BODY_LIMIT:
		co->body_limit = strtoull(arg, NULL, 10);
		return 1;
	case 'v':
		log_set_level(LOG_DEBUG);
		return 1;
	}
	return 0;
}

/* 0 to go on, else the exit code. */
static int parse_run(int argc, char **argv, struct run_args *a)
{
	int opt;

	a->capture.uid = -1;
	a->calls.rotate_keep = 5;
	while ((opt = getopt_long(argc, argv, "o:" CLI_CAPTURE_SHORT_OPTS, run_opts,
				  NULL)) != -1) {
		int res = cli_capture_opt(opt, optarg, &a->capture);

		if (res == 0)
			res = output_opt(opt, optarg, &a->calls);
		if (res < 0)
			return 2;
		if (res > 0)
			continue;
		if (opt == 'd') {
			a->duration = (unsigned)strtoul(optarg, NULL, 10);
			continue;
		}
		fputs(run_usage, opt == 'h' ? stdout : stderr);
		return opt == 'h' ? 0 : 2;
	}
	if (optind < argc) {
		log_err("run takes no arguments: '%s'", argv[optind]);
		return 2;
	}
	return -1;
}

int cmd_run(int argc, char **argv)
{
	struct run_args a = { 0 };
	struct stack s = { 0 };
	struct capture *cap;
	struct ev_sink sink;
	int rc, err;

	rc = parse_run(argc, argv, &a);
	if (rc >= 0)
		return rc;

	/* Output stages, then capture, then poll until told to stop. */
	if (stack_open(&s, &a.calls, true))
		return 1;
	sink = pipeline_ev_sink(s.pipe);
	cap = capture_open(&a.capture, &sink);
	if (!cap) {
		stack_close(&s);
		return 1;
	}
	cli_install_signals();
	log_info("running: LLM calls to %s",
		 a.calls.out_path ? a.calls.out_path : "stdout");

	err = cli_capture_loop(cap, a.duration, stack_tick, &s);

	capture_close(cap);
	stack_close(&s);
	log_info("stopped");
	return err ? 1 : 0;
}

int cmd_replay(int argc, char **argv)
{
	struct calls_opts co = { 0 };
	struct replay_stats st;
	struct stack s = { 0 };
	struct ev_sink sink;
	int opt, err;

	while ((opt = getopt_long(argc, argv, "o:vh", run_opts, NULL)) !=
	       -1) {
		int res = output_opt(opt, optarg, &co);

		if (res < 0)
			return 2;
		if (res > 0)
			continue;
		fputs(replay_usage, opt == 'h' ? stdout : stderr);
		return opt == 'h' ? 0 : 2;
	}
	if (optind != argc - 1) {
		log_err("replay needs one recording file; see --help");
		return 2;
	}

	if (stack_open(&s, &co, false))
		return 1;
	sink = pipeline_ev_sink(s.pipe);
	err = replay_file(argv[optind], &sink, &st);
	stack_close(&s);
	log_info("replayed %" PRIu64 " lines: %" PRIu64 " events, %" PRIu64
		 " bad lines", st.lines, st.events, st.bad_lines);
	return err ? 1 : 0;
}
