/* SPDX-License-Identifier: MIT */
/*
 * A sink for the HTTP targets: reads every field of each exchange the
 * parser hands over, so ASan sees any byte the parser got wrong, and
 * checks what the exchange promises (bodies NUL-terminated, segments
 * inside the body).
 */
#ifndef LLMTAP_FUZZ_EXCHANGE_H
#define LLMTAP_FUZZ_EXCHANGE_H

#include <stdlib.h>
#include <string.h>

#include "exchange.h"

static size_t fz_sum;	/* keeps the reads from being optimised out */

static inline void fz_check_str(const char *s)
{
	if (s)
		fz_sum += strlen(s);
}

static inline void fz_check_hdrs(const struct hdr_list *l)
{
	for (size_t i = 0; i < l->n; i++) {
		fz_check_str(l->v[i].name);
		fz_check_str(l->v[i].value);
	}
}

static inline void fz_check_body(const struct body *b)
{
	if (b->len > EXCHANGE_BODY_LIMIT)
		abort();
	if (b->data && b->data[b->len] != 0)
		abort();
	for (size_t i = 0; i < b->nsegs; i++) {
		const struct body_seg *s = &b->segs[i];

		if (s->off > b->len || s->len > b->len - s->off)
			abort();
	}
}

static inline void fz_on_exchange(void *ctx, struct http_exchange *ex)
{
	(void)ctx;
	fz_check_str(ex->method);
	fz_check_str(ex->path);
	fz_check_str(ex->authority);
	fz_check_hdrs(&ex->req_headers);
	fz_check_hdrs(&ex->resp_headers);
	fz_check_body(&ex->req_body);
	fz_check_body(&ex->resp_body);
	fz_sum += strnlen(ex->note, sizeof(ex->note));
}

#endif /* LLMTAP_FUZZ_EXCHANGE_H */
