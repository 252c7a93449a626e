/* SPDX-License-Identifier: MIT */
/*
 * A read-only view of one JSON text: jsmn (Debian's libjsmn-dev) cuts
 * it into tokens in place, without a tree or a copy of any string, and
 * these helpers walk the tokens. Reading a call's bodies this way costs
 * a fraction of building jansson trees for them, and a call needs only
 * a handful of their fields.
 *
 * Values are named by token index; JV_NONE (absent, or not what was
 * asked for) is taken by every function and gives JV_NONE, false or 0
 * back, so lookups chain without checks in between. The view points
 * into the text: the text must outlive it.
 */
#ifndef LLMTAP_JVIEW_H
#define LLMTAP_JVIEW_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define JV_NONE (-1)

struct jv_token;

struct jview {
	const char *js;
	size_t len;
	struct jv_token *tok;
	int ntok;
	int cap;
};

/* Reads one JSON object or array (jansson's default too) and nothing
 * after it but blanks. 0, -EINVAL when it is not that (cut, bad, too
 * many tokens), or -ENOMEM. The token array is kept for the next
 * parse; free it with jview_free. */
int jview_parse(struct jview *v, const char *js, size_t len);
void jview_free(struct jview *v);

/* The whole text's value: 0 after a successful parse. */
int jv_root(const struct jview *v);

bool jv_is_object(const struct jview *v, int i);
bool jv_is_array(const struct jview *v, int i);
bool jv_is_string(const struct jview *v, int i);
bool jv_is_true(const struct jview *v, int i);
bool jv_is_false(const struct jview *v, int i);
bool jv_is_null(const struct jview *v, int i);
/* An integer: digits, maybe after a '-', no fraction or exponent. */
bool jv_is_integer(const struct jview *v, int i);

/* The member key of object obj. */
int jv_get(const struct jview *v, int obj, const char *key);
/* Members of an object, elements of an array; 0 for anything else. */
int jv_size(const struct jview *v, int i);
/* Element k of array arr. */
int jv_at(const struct jview *v, int arr, int k);
/* The token after the whole of value i: the next element of its array,
 * or the next key of its object. */
int jv_skip(const struct jview *v, int i);
/* The first element of an array (walk on with jv_skip). */
int jv_first(const struct jview *v, int arr);

/* A string that is not "", or an array that is not []. */
bool jv_nonempty(const struct jview *v, int i);
/* The string's value equals s. */
bool jv_str_eq(const struct jview *v, int i, const char *s);
/* The string's value in a new NUL-terminated buffer (escapes undone);
 * NULL if i is not a string or memory ran out. */
char *jv_strdup(const struct jview *v, int i);
/* The string's raw bytes as they stand in the text, escapes and all,
 * and whether any escape is among them. */
const char *jv_raw(const struct jview *v, int i, size_t *len);
bool jv_has_escape(const struct jview *v, int i);
/* A string whose raw bytes are its value as JSON prints it: no escape
 * and no control byte (jsmn lets those stand raw). */
bool jv_is_plain(const struct jview *v, int i);
/* The integer's value if it is a positive one, else 0. */
uint64_t jv_uint(const struct jview *v, int i);

#endif /* LLMTAP_JVIEW_H */
