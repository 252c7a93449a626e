// SPDX-License-Identifier: MIT
/* libFuzzer target: the NDJSON line splitter (user/ndjson.c) fed the
 * input's pieces (fuzz.h; the control byte is unused). No line may
 * hold its own line end or pass NDJSON_LINE_MAX. */
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "ndjson.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	fz_quiet();
	return 0;
}

static int on_line(void *ctx, const struct ndjson_line *l)
{
	size_t *n = ctx;

	if (l->len > NDJSON_LINE_MAX || memchr(l->data, '\n', l->len))
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
	struct ndjson_parser *p = ndjson_parser_new(on_line, &n);

	if (!p)
		return 0;
	while (fz_next(&f, &pc))
		ndjson_parser_feed(p, (const char *)pc.data, pc.len,
				   ts += FZ_MS);
	ndjson_parser_finish(p, ts + FZ_MS);
	if (ndjson_parser_lines(p) != n)
		abort();
	ndjson_parser_free(p);
	return 0;
}
