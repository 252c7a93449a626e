/* SPDX-License-Identifier: MIT */
/*
 * One recording line read as a JSON object, fast. `record` writes flat
 * objects of plain ASCII strings, integers and booleans; those are
 * scanned in place, without building a jansson tree (jansson costs
 * about 100 instructions a byte on the base64 data, most of replay's
 * time). Any other line, valid or not, goes to jansson, so the
 * answers are jansson's for every input.
 */
#ifndef LLMTAP_RECLINE_H
#define LLMTAP_RECLINE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

/* More keys than this and a line takes the jansson path. */
#define RECLINE_FIELDS_MAX 24

enum recline_kind {
	RECLINE_STR,
	RECLINE_INT,
	RECLINE_TRUE,
	RECLINE_FALSE,
	RECLINE_NULL,
};

struct recline_field {
	const char *key;	/* NUL-terminated, inside the line */
	enum recline_kind kind;
	const char *str;	/* RECLINE_STR: NUL-terminated */
	int64_t num;	/* RECLINE_INT */
};

struct recline {
	json_t *json;	/* set when the line took the jansson path */
	size_t n;
	struct recline_field f[RECLINE_FIELDS_MAX];
};

/*
 * Reads line[0..len) (the caller's buffer, which the fast path edits:
 * it ends strings with NULs in place) into rl. Returns 0, or -EINVAL
 * when the line is not a JSON object or array, as json_loadb judges.
 * The fields borrow from line; call recline_free after use.
 */
int recline_parse(struct recline *rl, char *line, size_t len);
void recline_free(struct recline *rl);

/* As json_string_value(json_object_get(o, key)): NULL if absent or
 * not a string. */
const char *recline_str(const struct recline *rl, const char *key);
/* Whether key holds an integer; its value in *out. */
bool recline_int(const struct recline *rl, const char *key, int64_t *out);
/* Whether key holds true. */
bool recline_true(const struct recline *rl, const char *key);

#endif /* LLMTAP_RECLINE_H */
