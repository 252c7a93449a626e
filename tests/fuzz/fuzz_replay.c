// SPDX-License-Identifier: MIT
/*
 * libFuzzer target: the recording reader (user/replay.c) and all that
 * follows it in `llmtap replay`: the pipeline (HTTP/1.1, HTTP/2,
 * decoding, attribution) and the calls stage, writing to /dev/null.
 * The input is a recording file, as is: JSON lines.
 */
#include <stdio.h>
#include <sys/mman.h>
#include <unistd.h>

#include "calls.h"
#include "fuzz.h"
#include "pipeline.h"
#include "record.h"

static struct calls *calls;
static int memfd = -1;
static char memfd_path[64];

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	struct calls_opts o = { .out_path = "/dev/null", .bodies = true };

	fz_quiet();
	calls = calls_new(&o);
	memfd = memfd_create("fuzz_replay", MFD_CLOEXEC);
	if (!calls || memfd < 0)
		return 1;
	snprintf(memfd_path, sizeof(memfd_path), "/proc/self/fd/%d", memfd);
	return 0;
}

/* The input becomes the whole content of the memfd. */
static int fill_memfd(const uint8_t *data, size_t size)
{
	if (ftruncate(memfd, 0) || lseek(memfd, 0, SEEK_SET))
		return -1;
	while (size) {
		ssize_t n = write(memfd, data, size);

		if (n <= 0)
			return -1;
		data += n;
		size -= (size_t)n;
	}
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct pipeline_opts po = { .no_procfs = true };
	struct replay_stats st;
	struct pipeline *p;
	struct ev_sink sink;

	if (fill_memfd(data, size))
		return 0;
	po.sink = calls_sink(calls);
	p = pipeline_new(&po);
	if (!p)
		return 0;
	sink = pipeline_ev_sink(p);
	replay_file(memfd_path, &sink, &st);
	pipeline_tick(p, UINT64_MAX / 2);
	pipeline_free(p);
	return 0;
}
