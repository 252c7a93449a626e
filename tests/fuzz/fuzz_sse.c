// SPDX-License-Identifier: MIT
/* libFuzzer target: the SSE parser (user/sse.c) fed the input's
 * pieces (fuzz.h; the control byte is unused), then finished. Each
 * event must be NUL-terminated at its length. */
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "sse.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	fz_quiet();
	return 0;
}

static int on_event(void *ctx, const struct sse_event *ev)
{
	size_t *n = ctx;

	if (ev->data[ev->len] != 0 || ev->len > SSE_EVENT_MAX)
		abort();
	if (strlen(ev->type) > SSE_TYPE_MAX)
		abort();
	(*n)++;
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fz f = { data, size };
	struct fz_piece pc;
	uint64_t ts = FZ_T0;
	size_t n = 0;
	struct sse_parser *p = sse_parser_new(on_event, &n);

	if (!p)
		return 0;
	while (fz_next(&f, &pc))
		sse_parser_feed(p, (const char *)pc.data, pc.len, ts += FZ_MS);
	sse_parser_finish(p, ts + FZ_MS);
	if (sse_parser_events(p) != n)
		abort();
	sse_parser_free(p);
	return 0;
}
