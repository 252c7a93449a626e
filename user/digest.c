// SPDX-License-Identifier: MIT
#include <pthread.h>

#include <openssl/evp.h>

#include "digest.h"

static EVP_MD *digest_md;
static pthread_once_t digest_md_once = PTHREAD_ONCE_INIT;

static void digest_fetch(void)
{
	digest_md = EVP_MD_fetch(NULL, "SHA256", NULL);
}

static const EVP_MD *digest_sha256(void)
{
	pthread_once(&digest_md_once, digest_fetch);
	return digest_md;
}

bool digest_begin(struct digest *d)
{
	const EVP_MD *md = digest_sha256();

	if (!md)
		return false;
	if (!d->ctx)
		d->ctx = EVP_MD_CTX_new();
	return d->ctx && EVP_DigestInit_ex2(d->ctx, md, NULL);
}

bool digest_add(struct digest *d, const void *p, size_t n)
{
	return EVP_DigestUpdate(d->ctx, p, n);
}

bool digest_end(struct digest *d, unsigned char out[DIGEST_LEN])
{
	return EVP_DigestFinal_ex(d->ctx, out, NULL);
}

bool digest_once(const void *p, size_t n, unsigned char out[DIGEST_LEN])
{
	const EVP_MD *md = digest_sha256();

	return md && EVP_Digest(p, n, out, NULL, md, NULL);
}

void digest_free(struct digest *d)
{
	EVP_MD_CTX_free(d->ctx);
	d->ctx = NULL;
}

void digest_hex(const unsigned char *d, size_t n, char *out)
{
	static const char hex[] = "0123456789abcdef";

	for (size_t i = 0; i < n; i++) {
		out[2 * i] = hex[d[i] >> 4];
		out[2 * i + 1] = hex[d[i] & 0xf];
	}
	out[2 * n] = '\0';
}
