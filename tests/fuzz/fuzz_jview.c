// SPDX-License-Identifier: MIT
/* libFuzzer target: the JSON view (user/jview.c over jsmn) against
 * jansson on the same bytes, taken whole (no piece framing). What
 * jansson reads as an object or array, the view must read too, with
 * the same members: strings, integers, true, false, null and sizes.
 * The view may take more (jansson also checks UTF-8 and depth), and
 * takes less in one case: a NUL byte outside a string. */
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "fuzz.h"
#include "jview.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	fz_quiet();
	return 0;
}

static void same_string(const struct jview *v, int i, const json_t *j)
{
	char *s = jv_strdup(v, i);

	if (!s)
		abort();
	/* A \u0000 ends the view's C string; jansson refuses it anyway
	 * unless told otherwise, so compare up to the first NUL. */
	if (strcmp(s, json_string_value(j)) != 0)
		abort();
	if (!jv_str_eq(v, i, json_string_value(j)))
		abort();
	free(s);
}

static void same_integer(const struct jview *v, int i, const json_t *j)
{
	json_int_t n = json_integer_value(j);

	if (!jv_is_integer(v, i))
		abort();
	if (jv_uint(v, i) != (n > 0 ? (uint64_t)n : 0))
		abort();
}

/* One value of the view against jansson's. */
static void same_value(const struct jview *v, int i, const json_t *j)
{
	if (json_is_string(j))
		same_string(v, i, j);
	else if (json_is_integer(j))
		same_integer(v, i, j);
	else if (json_is_true(j) != jv_is_true(v, i) ||
		 json_is_false(j) != jv_is_false(v, i) ||
		 json_is_null(j) != jv_is_null(v, i))
		abort();
	else if (json_is_object(j) &&
		 (!jv_is_object(v, i) || jv_size(v, i) < 0))
		abort();
	else if (json_is_array(j) &&
		 (!jv_is_array(v, i) ||
		  jv_size(v, i) != (int)json_array_size(j)))
		abort();
}

/* The root's members (or elements), each looked up as a caller would.
 * A repeated key: jansson keeps the last, the view finds the first,
 * so objects are only checked when the counts agree. */
static void same_root(const struct jview *v, const json_t *root)
{
	int r = jv_root(v);
	const char *key;
	json_t *val;
	size_t k;

	if (json_is_array(root)) {
		json_array_foreach(root, k, val)
			same_value(v, jv_at(v, r, (int)k), val);
		return;
	}
	if (jv_size(v, r) != (int)json_object_size(root))
		return;
	json_object_foreach((json_t *)root, key, val)
		same_value(v, jv_get(v, r, key), val);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	json_t *j = json_loadb((const char *)data, size, 0, NULL);
	struct jview v = { 0 };
	int err = jview_parse(&v, (const char *)data, size);

	/* jansson lets a NUL byte stand between tokens, which JSON does
	 * not; jsmn stops there. */
	if (j && err && !memchr(data, 0, size))
		abort();
	if (err) {
		json_decref(j);
		j = NULL;
	}
	if (j)
		same_root(&v, j);
	/* Walking every token must stay inside the view. */
	for (int i = jv_root(&v); i != JV_NONE; i = jv_skip(&v, i))
		;
	json_decref(j);
	jview_free(&v);
	return 0;
}
