/* SPDX-License-Identifier: MIT */
/*
 * Keeping credentials out of every output and log: secret headers,
 * key-like query parameters, and API keys pasted into bodies.
 */
#ifndef LLMTAP_REDACT_H
#define LLMTAP_REDACT_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#include "exchange.h"

#define REDACT_MASK "[REDACTED]"

/* True for Authorization, Proxy-Authorization, x-api-key, api-key,
 * x-goog-api-key, Cookie, Set-Cookie and other credential headers. */
bool redact_header_is_secret(const char *name);

/* A copy of path with the values of key=, api_key=, access_token= and
 * similar query parameters masked. NULL on allocation failure. */
char *redact_path(const char *path);

/* A copy of len bytes of text with strings that look like API keys
 * (sk-..., sk-ant-..., AIza..., gsk_..., xai-...) masked, and cut to
 * at most limit bytes before masking; *cut says whether it was.
 * NUL-terminated; NULL on allocation failure. */
char *redact_body(const char *text, size_t len, size_t limit, bool *cut);

/* Whether text is left as it is by redact_body: too short to hold a
 * key and plain ASCII, so the copy can be skipped. A false answer
 * says nothing. */
bool redact_text_is_plain(const char *text, size_t len);

/* Headers as a JSON object, secrets masked; repeated names are joined
 * with ", ". NULL on allocation failure. */
json_t *redact_headers_json(const struct hdr_list *l);

#endif /* LLMTAP_REDACT_H */
