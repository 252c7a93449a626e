/* SPDX-License-Identifier: MIT */
/*
 * What the libFuzzer targets share: a reader that cuts one input into
 * pieces. A piece is a control byte (its bits mean what each target
 * says: direction, a gap before it, a close after it), a 16-bit
 * little-endian length, then that many bytes, fewer at the end.
 * tests/fuzz/make_corpus.py writes seeds in this framing, so the
 * fuzzer mutates both the bytes and where they are cut.
 */
#ifndef LLMTAP_FUZZ_H
#define LLMTAP_FUZZ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "log.h"

#define FZ_T0 1700000000000000000ull
#define FZ_MS 1000000ull

/* Piece control bits, for targets that use them. */
#define FZ_READ 0x01	/* the response direction */
#define FZ_GAP 0x02	/* bytes were lost before this piece */
#define FZ_CLOSE 0x04	/* the connection ends after this piece */

struct fz {
	const uint8_t *p;
	size_t n;
};

struct fz_piece {
	uint8_t ctl;
	const uint8_t *data;
	size_t len;
};

static inline int fz_byte(struct fz *f)
{
	if (!f->n)
		return -1;
	f->n--;
	return *f->p++;
}

static inline size_t fz_u16(struct fz *f)
{
	int lo = fz_byte(f), hi = fz_byte(f);

	return (size_t)(lo < 0 ? 0 : lo) | (size_t)(hi < 0 ? 0 : hi) << 8;
}

/* The next piece, or false when the input is used up. */
static inline bool fz_next(struct fz *f, struct fz_piece *pc)
{
	int ctl = fz_byte(f);
	size_t len;

	if (ctl < 0)
		return false;
	len = fz_u16(f);
	if (len > f->n)
		len = f->n;
	pc->ctl = (uint8_t)ctl;
	pc->data = f->p;
	pc->len = len;
	f->p += len;
	f->n -= len;
	return true;
}

/* Parsers warn about bad input; a fuzzer feeds nothing else. */
static inline void fz_quiet(void)
{
	log_set_level(LOG_ERR);
}

#endif /* LLMTAP_FUZZ_H */
