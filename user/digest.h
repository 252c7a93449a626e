/* SPDX-License-Identifier: MIT */
/*
 * SHA-256 for the per-call hashes (request_hash, session chains, store
 * keys). OpenSSL 3 looks the algorithm up again on every init given
 * EVP_sha256(), which costs more than hashing a short body; here it is
 * fetched once and each hasher keeps its context for reuse.
 */
#ifndef LLMTAP_DIGEST_H
#define LLMTAP_DIGEST_H

#include <stdbool.h>
#include <stddef.h>

#define DIGEST_LEN 32
#define DIGEST_HEX_LEN (2 * DIGEST_LEN + 1)

struct digest {
	void *ctx;	/* EVP_MD_CTX, created on first use */
};

/* Each returns false when OpenSSL fails (out of memory). */
bool digest_begin(struct digest *d);
bool digest_add(struct digest *d, const void *p, size_t n);
bool digest_end(struct digest *d, unsigned char out[DIGEST_LEN]);
/* One buffer at once. */
bool digest_once(const void *p, size_t n, unsigned char out[DIGEST_LEN]);
void digest_free(struct digest *d);

/* Lower-case hex of the first n bytes of d (n <= DIGEST_LEN). */
void digest_hex(const unsigned char *d, size_t n, char *out);

#endif /* LLMTAP_DIGEST_H */
