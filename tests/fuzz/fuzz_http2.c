// SPDX-License-Identifier: MIT
/* libFuzzer target: one HTTP/2 connection (user/http2.c) fed the
 * pieces of the input, requests and responses as each piece's
 * control byte says (fuzz.h), with gaps and an early close. HPACK is
 * nghttp2's, reached through the HEADERS frames. */
#include "fuzz.h"
#include "fuzz_exchange.h"
#include "http2.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	fz_quiet();
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct exchange_sink sink = { .on_exchange = fz_on_exchange };
	struct ev_conn_id id = { .pid = 42, .ssl = 0x1000 };
	struct ev_task task = { .ts_ns = FZ_T0, .pid = 42, .tid = 42 };
	struct fz f = { data, size };
	struct fz_piece pc;
	struct h2_conn *c = h2_conn_new(&sink, &id);

	if (!c)
		return 0;
	while (fz_next(&f, &pc)) {
		enum ev_dir dir = pc.ctl & FZ_READ ? EV_DIR_READ : EV_DIR_WRITE;

		task.ts_ns += FZ_MS;
		if (pc.ctl & FZ_GAP)
			h2_conn_gap(c, dir);
		h2_conn_feed(c, dir, pc.data, pc.len, &task);
		if (pc.ctl & FZ_CLOSE)
			break;
	}
	h2_conn_close(c, task.ts_ns + FZ_MS, "fuzz end");
	h2_conn_free(c);
	return 0;
}
