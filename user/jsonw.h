/* SPDX-License-Identifier: MIT */
/*
 * Writes one JSON text straight into a growing buffer: the record of
 * every call is printed this way, as building a jansson tree only to
 * print it cost more than reading the call. Strings must be valid
 * UTF-8 (callers clean what comes from the wire); they are escaped
 * here. A failed allocation is remembered and reported at the end.
 */
#ifndef LLMTAP_JSONW_H
#define LLMTAP_JSONW_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define JSONW_DEPTH_MAX 16

struct jsonw {
	char *buf;
	size_t len;
	size_t cap;
	int depth;
	bool more[JSONW_DEPTH_MAX];	/* a value precedes, at each depth */
	bool failed;
};

/* Empties w for the next text, keeping its buffer. */
void jsonw_reset(struct jsonw *w);
void jsonw_free(struct jsonw *w);
/* The text, NUL-terminated; NULL if memory ran out on the way. */
const char *jsonw_text(const struct jsonw *w, size_t *len);

/* key is NULL for array elements and the top level. */
void jsonw_open(struct jsonw *w, const char *key);	/* { */
void jsonw_close(struct jsonw *w);			/* } */
void jsonw_str(struct jsonw *w, const char *key, const char *s);
void jsonw_strn(struct jsonw *w, const char *key, const char *s,
		size_t n);
void jsonw_u64(struct jsonw *w, const char *key, uint64_t v);
void jsonw_i64(struct jsonw *w, const char *key, int64_t v);
/* %.*g with digits significant digits, always with a '.' or 'e'. */
void jsonw_real(struct jsonw *w, const char *key, double v, int digits);
/* thousandths / 1000 exactly, as a real: "12.5", "3.0". */
void jsonw_milli(struct jsonw *w, const char *key, uint64_t thousandths);
void jsonw_bool(struct jsonw *w, const char *key, bool v);
void jsonw_null(struct jsonw *w, const char *key);
/* json is already a JSON text (e.g. printed by jansson). */
void jsonw_raw(struct jsonw *w, const char *key, const char *json);

#endif /* LLMTAP_JSONW_H */
