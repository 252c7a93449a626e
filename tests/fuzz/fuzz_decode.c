// SPDX-License-Identifier: MIT
/* libFuzzer target: the Content-Encoding decoder (user/decode.c).
 * The first byte picks the coding (one of DECODINGS, stacks
 * included), the rest is fed in pieces (fuzz.h). The decoded total
 * must match what the callback got and stay under the limit. */
#include <stdlib.h>

#include "decode.h"
#include "fuzz.h"

/* A small limit, so bombs are cut fast and iterations stay quick. */
#define FZ_DECODE_LIMIT (1u << 20)

static const char *const DECODINGS[] = {
	"gzip", "deflate", "br", "zstd", "identity", "x-gzip",
	"gzip, br", "br, zstd", "deflate, gzip", "compress", "",
	"GZIP", " gzip ,deflate ", "gzip, gzip, gzip, gzip, gzip",
};
#define N_DECODINGS (sizeof(DECODINGS) / sizeof(DECODINGS[0]))

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	fz_quiet();
	return 0;
}

static int on_out(void *ctx, const uint8_t *data, size_t len)
{
	uint64_t *n = ctx;

	/* Every coding, identity too, hands on bounded pieces. */
	if (len > DECODE_PIECE)
		abort();
	for (size_t i = 0; i < len; i += 4096)
		*n += data[i] == 0;	/* touch the piece for ASan */
	*n += (uint64_t)len << 32;
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fz f = { data, size };
	struct fz_piece pc;
	uint64_t n = 0;
	int sel = fz_byte(&f);
	struct decoder *d;

	if (sel < 0)
		return 0;
	d = decoder_new(DECODINGS[(size_t)sel % N_DECODINGS]);
	if (!d)
		return 0;
	decoder_set_limit(d, FZ_DECODE_LIMIT);
	while (fz_next(&f, &pc)) {
		if (decoder_feed(d, pc.data, pc.len, on_out, &n))
			break;
	}
	decoder_finish(d, on_out, &n);
	if (decoder_out_bytes(d) != n >> 32 ||
	    decoder_out_bytes(d) > FZ_DECODE_LIMIT)
		abort();
	decoder_free(d);
	return 0;
}
