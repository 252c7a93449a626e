// SPDX-License-Identifier: MIT
#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* Strict: keys are strings and primitives start as JSON's do. Parent
 * links: closing a bracket walks up, not back over every token (which
 * is quadratic in a long array of objects). */
#define JSMN_STATIC
#define JSMN_STRICT
#define JSMN_PARENT_LINKS
#include <jsmn.h>

#include "jview.h"

#define JV_TOKENS_FIRST 256
/* A million tokens (20 MiB) reads any real request; a body with more
 * is refused rather than allowed to grow the array without end. */
#define JV_TOKENS_MAX (1 << 20)

struct jv_token {
	jsmntok_t t;
};

static const jsmntok_t *jv_tok(const struct jview *v, int i)
{
	return &v->tok[i].t;
}

static bool jv_valid(const struct jview *v, int i)
{
	return i >= 0 && i < v->ntok;
}

/* A freed token array of the first size, kept for the next view on
 * the same thread: a call reads two or three bodies, and a fresh
 * array each time cost a malloc large enough to make glibc tidy its
 * free lists. */
static __thread struct jv_token *jv_spare;

static int jv_grow(struct jview *v)
{
	int cap = v->cap ? 2 * v->cap : JV_TOKENS_FIRST;
	struct jv_token *t;

	if (v->cap >= JV_TOKENS_MAX)
		return -EINVAL;
	if (cap > JV_TOKENS_MAX)
		cap = JV_TOKENS_MAX;
	t = realloc(v->tok, (size_t)cap * sizeof(*t));
	if (!t)
		return -ENOMEM;
	v->tok = t;
	v->cap = cap;
	return 0;
}

static bool jv_blank(char ch)
{
	return ch == ' ' || ch == '\t' || ch == '\n' || ch == '\r';
}

/*
 * jsmn checks less than a full parser: every key of an object must be
 * a string with one value, only keys may have a value, there is one
 * root, and nothing but blanks follows it.
 */
static bool jv_well_formed(const struct jview *v)
{
	const jsmntok_t *root = jv_tok(v, 0);

	if (root->type != JSMN_OBJECT && root->type != JSMN_ARRAY)
		return false;
	for (int i = 1; i < v->ntok; i++) {
		const jsmntok_t *t = jv_tok(v, i);
		bool in_object;

		if (t->parent < 0 || t->parent >= i)
			return false;
		in_object = jv_tok(v, t->parent)->type == JSMN_OBJECT;
		if (in_object && (t->type != JSMN_STRING || t->size != 1))
			return false;
		if (!in_object && t->size != 0 && t->type != JSMN_OBJECT &&
		    t->type != JSMN_ARRAY)
			return false;
	}
	for (size_t k = (size_t)root->end; k < v->len; k++)
		if (!jv_blank(v->js[k]))
			return false;
	return true;
}

int jview_parse(struct jview *v, const char *js, size_t len)
{
	jsmn_parser p;
	int r, err;

	v->js = js;
	v->len = len;
	v->ntok = 0;
	if (len >= (size_t)INT32_MAX)
		return -EINVAL;	/* jsmn counts in int */
	if (!v->tok && jv_spare) {
		v->tok = jv_spare;
		v->cap = JV_TOKENS_FIRST;
		jv_spare = NULL;
	}
	if (!v->tok && (err = jv_grow(v)))
		return err;
	jsmn_init(&p);
	/* jsmn resumes where it ran out of tokens. */
	while ((r = jsmn_parse(&p, js, len, (jsmntok_t *)v->tok,
			       (unsigned)v->cap)) == JSMN_ERROR_NOMEM) {
		if ((err = jv_grow(v)))
			return err;
	}
	if (r <= 0)
		return -EINVAL;
	v->ntok = r;
	if (!jv_well_formed(v)) {
		v->ntok = 0;
		return -EINVAL;
	}
	return 0;
}

void jview_free(struct jview *v)
{
	if (v->cap == JV_TOKENS_FIRST && !jv_spare)
		jv_spare = v->tok;
	else
		free(v->tok);
	memset(v, 0, sizeof(*v));
}

int jv_root(const struct jview *v)
{
	return v->ntok > 0 ? 0 : JV_NONE;
}

static bool jv_type(const struct jview *v, int i, jsmntype_t type)
{
	return jv_valid(v, i) && jv_tok(v, i)->type == type;
}

bool jv_is_object(const struct jview *v, int i)
{
	return jv_type(v, i, JSMN_OBJECT);
}

bool jv_is_array(const struct jview *v, int i)
{
	return jv_type(v, i, JSMN_ARRAY);
}

bool jv_is_string(const struct jview *v, int i)
{
	return jv_type(v, i, JSMN_STRING);
}

/* A primitive spelled exactly word. */
static bool jv_word(const struct jview *v, int i, const char *word)
{
	const jsmntok_t *t;
	size_t n = strlen(word);

	if (!jv_type(v, i, JSMN_PRIMITIVE))
		return false;
	t = jv_tok(v, i);
	return (size_t)(t->end - t->start) == n &&
	       memcmp(v->js + t->start, word, n) == 0;
}

bool jv_is_true(const struct jview *v, int i)
{
	return jv_word(v, i, "true");
}

bool jv_is_false(const struct jview *v, int i)
{
	return jv_word(v, i, "false");
}

bool jv_is_null(const struct jview *v, int i)
{
	return jv_word(v, i, "null");
}

bool jv_is_integer(const struct jview *v, int i)
{
	const jsmntok_t *t;
	int k;

	if (!jv_type(v, i, JSMN_PRIMITIVE))
		return false;
	t = jv_tok(v, i);
	k = t->start + (v->js[t->start] == '-');
	if (k >= t->end)
		return false;
	for (; k < t->end; k++)
		if (v->js[k] < '0' || v->js[k] > '9')
			return false;
	return true;
}

int jv_skip(const struct jview *v, int i)
{
	int todo = 1;

	if (!jv_valid(v, i))
		return JV_NONE;
	/* Each token owns size children: consume until none is owed. */
	while (todo > 0 && i < v->ntok) {
		todo += jv_tok(v, i)->size - 1;
		i++;
	}
	return todo == 0 && i < v->ntok ? i : JV_NONE;
}

int jv_size(const struct jview *v, int i)
{
	if (!jv_is_object(v, i) && !jv_is_array(v, i))
		return 0;
	return jv_tok(v, i)->size;
}

int jv_first(const struct jview *v, int arr)
{
	return jv_size(v, arr) > 0 && jv_is_array(v, arr) ? arr + 1 :
							    JV_NONE;
}

int jv_at(const struct jview *v, int arr, int k)
{
	int i = jv_first(v, arr);

	if (k < 0 || k >= jv_size(v, arr))
		return JV_NONE;
	while (k-- > 0 && i != JV_NONE)
		i = jv_skip(v, i);
	return i;
}

int jv_get(const struct jview *v, int obj, const char *key)
{
	int n = jv_size(v, obj);
	int k = obj + 1;

	if (!jv_is_object(v, obj))
		return JV_NONE;
	/* Each key owns its value, so skipping a key skips both. */
	for (int m = 0; m < n && k != JV_NONE; m++) {
		if (jv_str_eq(v, k, key))
			return k + 1;
		k = jv_skip(v, k);
	}
	return JV_NONE;
}

bool jv_nonempty(const struct jview *v, int i)
{
	if (jv_is_string(v, i))
		return jv_tok(v, i)->end > jv_tok(v, i)->start;
	return jv_is_array(v, i) && jv_tok(v, i)->size > 0;
}

const char *jv_raw(const struct jview *v, int i, size_t *len)
{
	const jsmntok_t *t;

	*len = 0;
	if (!jv_valid(v, i))
		return NULL;
	t = jv_tok(v, i);
	*len = (size_t)(t->end - t->start);
	return v->js + t->start;
}

bool jv_has_escape(const struct jview *v, int i)
{
	size_t n;
	const char *s = jv_raw(v, i, &n);

	return s && memchr(s, '\\', n);
}

#define JV_ONES 0x0101010101010101ull
#define JV_HIGHS 0x8080808080808080ull

/* Whether any of the eight bytes of w is a control byte or a
 * backslash, all at once (exact as a yes or no). */
static bool jv_word_unplain(uint64_t w)
{
	uint64_t ctl = (w - JV_ONES * 0x20) & ~w & JV_HIGHS;
	uint64_t bs = w ^ (JV_ONES * '\\');

	return ctl | ((bs - JV_ONES) & ~bs & JV_HIGHS);
}

bool jv_is_plain(const struct jview *v, int i)
{
	size_t n, k = 0;
	const char *s;
	uint64_t w;

	if (!jv_is_string(v, i))
		return false;
	s = jv_raw(v, i, &n);
	/* Prompts are most of a body: eight bytes a step. */
	for (; k + 8 <= n; k += 8) {
		memcpy(&w, s + k, sizeof(w));
		if (jv_word_unplain(w))
			return false;
	}
	for (; k < n; k++)
		if ((unsigned char)s[k] < 0x20 || s[k] == '\\')
			return false;
	return true;
}

static int jv_hex4(const char *s)
{
	int cp = 0;

	for (int k = 0; k < 4; k++) {
		char ch = s[k];
		int d = ch >= '0' && ch <= '9' ? ch - '0' :
			ch >= 'a' && ch <= 'f' ? ch - 'a' + 10 :
			ch >= 'A' && ch <= 'F' ? ch - 'A' + 10 : -1;

		if (d < 0)
			return -1;
		cp = cp * 16 + d;
	}
	return cp;
}

static size_t jv_utf8(unsigned cp, char *out)
{
	if (cp < 0x80) {
		out[0] = (char)cp;
		return 1;
	}
	if (cp < 0x800) {
		out[0] = (char)(0xc0 | cp >> 6);
		out[1] = (char)(0x80 | (cp & 0x3f));
		return 2;
	}
	if (cp < 0x10000) {
		out[0] = (char)(0xe0 | cp >> 12);
		out[1] = (char)(0x80 | (cp >> 6 & 0x3f));
		out[2] = (char)(0x80 | (cp & 0x3f));
		return 3;
	}
	out[0] = (char)(0xf0 | cp >> 18);
	out[1] = (char)(0x80 | (cp >> 12 & 0x3f));
	out[2] = (char)(0x80 | (cp >> 6 & 0x3f));
	out[3] = (char)(0x80 | (cp & 0x3f));
	return 4;
}

#define JV_REPLACEMENT 0xfffd

/* The code point of the \u escape at s (n bytes left, s[0] == 'u'),
 * a surrogate pair joined; *used: bytes read after the backslash. A
 * lone surrogate becomes U+FFFD. */
static unsigned jv_unicode(const char *s, size_t n, size_t *used)
{
	int hi = n >= 5 ? jv_hex4(s + 1) : -1;
	int lo;

	*used = n >= 5 ? 5 : n;
	if (hi < 0)
		return JV_REPLACEMENT;
	if (hi < 0xd800 || hi > 0xdfff)
		return (unsigned)hi;
	if (hi > 0xdbff || n < 11 || s[5] != '\\' || s[6] != 'u')
		return JV_REPLACEMENT;
	lo = jv_hex4(s + 7);
	if (lo < 0xdc00 || lo > 0xdfff)
		return JV_REPLACEMENT;
	*used = 11;
	return 0x10000 + (((unsigned)hi - 0xd800) << 10) +
	       ((unsigned)lo - 0xdc00);
}

static char jv_simple_escape(char ch)
{
	switch (ch) {
	case 'b':
		return '\b';
	case 'f':
		return '\f';
	case 'n':
		return '\n';
	case 'r':
		return '\r';
	case 't':
		return '\t';
	default:
		return ch;	/* '"', '\\' and '/' stand for themselves */
	}
}

/* Undoes the escapes of n raw bytes into out (room for n + 1: no
 * escape is shorter than what it stands for); returns the length. */
static size_t jv_unescape(const char *s, size_t n, char *out)
{
	size_t o = 0, used;

	for (size_t i = 0; i < n; i++) {
		if (s[i] != '\\' || i + 1 == n) {
			out[o++] = s[i];
			continue;
		}
		i++;
		if (s[i] != 'u') {
			out[o++] = jv_simple_escape(s[i]);
			continue;
		}
		o += jv_utf8(jv_unicode(s + i, n - i, &used), out + o);
		i += used - 1;
	}
	out[o] = '\0';
	return o;
}

char *jv_strdup(const struct jview *v, int i)
{
	size_t n;
	const char *s;
	char *out;

	if (!jv_is_string(v, i))
		return NULL;
	s = jv_raw(v, i, &n);
	out = malloc(n + 1);
	if (!out)
		return NULL;
	jv_unescape(s, n, out);
	return out;
}

bool jv_str_eq(const struct jview *v, int i, const char *s)
{
	size_t n, want = strlen(s);
	const char *raw;
	char *text;
	bool eq;

	if (!jv_is_string(v, i))
		return false;
	raw = jv_raw(v, i, &n);
	if (!memchr(raw, '\\', n))
		return n == want && memcmp(raw, s, n) == 0;
	text = jv_strdup(v, i);
	eq = text && strcmp(text, s) == 0;
	free(text);
	return eq;
}

uint64_t jv_uint(const struct jview *v, int i)
{
	const jsmntok_t *t;
	uint64_t n = 0;

	if (!jv_is_integer(v, i) || v->js[jv_tok(v, i)->start] == '-')
		return 0;
	t = jv_tok(v, i);
	for (int k = t->start; k < t->end; k++) {
		unsigned d = (unsigned)(v->js[k] - '0');

		if (n > (UINT64_MAX - d) / 10)
			return UINT64_MAX;
		n = n * 10 + d;
	}
	return n;
}
