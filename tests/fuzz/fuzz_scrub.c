// SPDX-License-Identifier: MIT
/*
 * libFuzzer target: credential masking (user/scrub.c). Each piece of
 * the input (fuzz.h) is one captured chunk; its control byte says the
 * direction (bit 0), a close of its connection after it (bit 2), the
 * connection (bits 3-4, four of them) and a chunk split in two parts
 * of one call (bit 5). Masking works in place, so every byte that
 * goes in must come out, unless scrub counted the event as dropped.
 */
#include <stdlib.h>

#include "fuzz.h"
#include "scrub.h"

#define FZ_SCRUB_CONNS 4

struct tally {
	uint64_t in;
	uint64_t out;
	uint64_t sum;
};

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	fz_quiet();
	return 0;
}

static void on_data(void *ctx, const struct ev_data *ev)
{
	struct tally *t = ctx;

	for (size_t i = 0; i < ev->len; i++)
		t->sum += ev->data[i];
	t->out += ev->len;
}

static void send_chunk(struct ev_sink *in, struct ev_data *ev,
		       const uint8_t *p, size_t len, uint64_t off)
{
	ev->data = p;
	ev->len = len;
	ev->offset = off;
	in->on_data(in->ctx, ev);
}

static void send_piece(struct ev_sink *in, const struct fz_piece *pc,
		       uint64_t ts)
{
	struct ev_data ev = { 0 };
	size_t half = pc->ctl & 0x20 ? pc->len / 2 : pc->len;

	ev.task = (struct ev_task){ .ts_ns = ts, .pid = 9, .tid = 9 };
	ev.conn = (struct ev_conn_id){ 9, 0x100 + ((pc->ctl >> 3) & 3) };
	ev.dir = pc->ctl & FZ_READ ? EV_DIR_READ : EV_DIR_WRITE;
	ev.call_len = pc->len;
	send_chunk(in, &ev, pc->data, half, 0);
	if (half < pc->len)
		send_chunk(in, &ev, pc->data + half, pc->len - half, half);
}

static void send_close(struct ev_sink *in, const struct fz_piece *pc,
		       uint64_t ts)
{
	struct ev_conn ev = { .op = EV_CONN_CLOSE, .fd = -1 };

	ev.task = (struct ev_task){ .ts_ns = ts, .pid = 9, .tid = 9 };
	ev.conn = (struct ev_conn_id){ 9, 0x100 + ((pc->ctl >> 3) & 3) };
	in->on_conn(in->ctx, &ev);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct tally t = { 0 };
	struct ev_sink down = { .ctx = &t, .on_data = on_data };
	struct fz f = { data, size };
	struct scrub_stats st;
	struct fz_piece pc;
	struct ev_sink in;
	uint64_t ts = FZ_T0;
	struct scrub *s = scrub_new(&down);

	if (!s)
		return 0;
	in = scrub_sink(s);
	while (fz_next(&f, &pc)) {
		ts += FZ_MS;
		send_piece(&in, &pc, ts);
		t.in += pc.len;
		if (pc.ctl & FZ_CLOSE)
			send_close(&in, &pc, ts);
	}
	scrub_flush(s);
	scrub_get_stats(s, &st);
	if (t.out > t.in || (st.dropped == 0 && t.out != t.in))
		abort();
	scrub_free(s);
	return 0;
}
