// SPDX-License-Identifier: MIT
/* llmtap record: the raw capture, as JSON lines. */
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "capture.h"
#include "cli.h"
#include "log.h"
#include "privs.h"
#include "record.h"
#include "scrub.h"

static const char record_usage[] =
	"usage: llmtap record -o FILE [options]\n"
	"\n"
	"Writes every TLS read and write of the traced processes to FILE\n"
	"as JSON lines (see README.md, 'Recording format'). '-' is stdout.\n"
	"\n"
	"  -o, --output FILE       where to write (required)\n"
	CLI_CAPTURE_USAGE;

static const struct option record_opts[] = {
	{ "output", required_argument, NULL, 'o' },
	CLI_CAPTURE_LONG_OPTS,
	{ 0 },
};

int cmd_record(int argc, char **argv)
{
	struct capture_opts copts = { .uid = -1 };
	const char *out = NULL;
	unsigned duration = 0;
	struct recorder *rec;
	struct ev_sink rsink, sink;
	struct capture *cap;
	struct scrub *scrub;
	int opt, err;

	while ((opt = getopt_long(argc, argv, "o:" CLI_CAPTURE_SHORT_OPTS,
				  record_opts, NULL)) != -1) {
		int res = cli_capture_opt(opt, optarg, &copts);

		if (res < 0)
			return 2;
		if (res > 0)
			continue;
		switch (opt) {
		case 'o':
			out = optarg;
			break;
		case 'd':
			duration = (unsigned)strtoul(optarg, NULL, 10);
			break;
		case 'v':
			log_set_level(LOG_DEBUG);
			break;
		case 'h':
			fputs(record_usage, stdout);
			return 0;
		default:
			fputs(record_usage, stderr);
			return 2;
		}
	}
	if (!out) {
		log_err("record needs -o FILE ('-' for stdout)");
		return 2;
	}

	/* Open the output, start capture, poll, then clean up. */
	rec = recorder_open(out);
	if (!rec)
		return 1;

	/* Secrets never reach the file: every event goes through the
	 * scrubber, which masks them in place at the same length. */
	rsink = recorder_sink(rec);
	scrub = scrub_new(&rsink);
	if (!scrub) {
		log_err("out of memory");
		recorder_close(rec);
		return 1;
	}
	sink = scrub_sink(scrub);
	cap = capture_open(&copts, &sink);
	if (!cap) {
		scrub_free(scrub);
		recorder_close(rec);
		return 1;
	}
	/* Attached: drop what the rest does not need (privs.h). */
	err = privs_drop();
	if (err)
		log_warn("capabilities not dropped (%s)", strerror(-err));
	cli_install_signals();
	log_info("recording to %s", out);

	err = cli_capture_loop(cap, duration, NULL, NULL);

	capture_close(cap);
	/* Before the recorder closes: held header blocks still go out. */
	scrub_free(scrub);
	log_info("stopped: %" PRIu64 " lines written", recorder_lines(rec));
	if (recorder_close(rec)) {
		log_err("write %s failed", out);
		return 1;
	}
	return err ? 1 : 0;
}
