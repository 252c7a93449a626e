/* SPDX-License-Identifier: MIT */
/*
 * A tiny HTTP/1.1 client for `llmtap top`: one GET to the daemon's API
 * over a plain socket, the whole answer read until the server closes.
 * The API answers with a Content-Length, never chunked, so only that
 * framing is read; anything else is a protocol error.
 */
#ifndef LLMTAP_HGET_H
#define LLMTAP_HGET_H

#include <stddef.h>

/* An answer larger than this is refused (the API's are far smaller). */
#define HGET_MAX_BYTES (8u << 20)

struct hget_resp {
	int status;
	char *body;	/* NUL-terminated, owned: hget_resp_free */
	size_t body_len;
};

/*
 * Parses a whole answer (status line, headers, body). 0 with r filled
 * (body copied), -EAGAIN when buf ends before the body does, -EPROTO
 * for anything else, -ENOMEM.
 */
int hget_parse(const char *buf, size_t len, struct hget_resp *r);

/* GET path from addr ("IPV4:PORT"), waiting at most timeout_ms for
 * each step. 0, or a negative errno: -EINVAL for a bad address,
 * -ECONNREFUSED and the like from the socket, -EPROTO, -EFBIG. */
int hget(const char *addr, const char *path, int timeout_ms,
	 struct hget_resp *r);
/* When set, hget sends it as "Authorization: Bearer VALUE": the token
 * of a daemon started with --api-token. */
#define HGET_TOKEN_ENV "LLMTAP_API_TOKEN"


void hget_resp_free(struct hget_resp *r);	/* accepts NULL */

#endif /* LLMTAP_HGET_H */
