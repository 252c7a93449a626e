// SPDX-License-Identifier: MIT
/* libFuzzer target: one HTTP/1.x connection (user/http1.c) fed the
 * pieces of the input, requests and responses as each piece's
 * control byte says (fuzz.h), with gaps and an early close. */
#include "fuzz.h"
#include "fuzz_exchange.h"
#include "http1.h"

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
	struct h1_conn *c = h1_conn_new(&sink, &id);

	if (!c)
		return 0;
	while (fz_next(&f, &pc)) {
		enum ev_dir dir = pc.ctl & FZ_READ ? EV_DIR_READ : EV_DIR_WRITE;

		task.ts_ns += FZ_MS;
		if (pc.ctl & FZ_GAP)
			h1_conn_gap(c, dir);
		h1_conn_feed(c, dir, pc.data, pc.len, &task);
		if (pc.ctl & FZ_CLOSE)
			break;
	}
	h1_conn_close(c, task.ts_ns + FZ_MS, "fuzz end");
	h1_conn_free(c);
	return 0;
}
