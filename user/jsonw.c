// SPDX-License-Identifier: MIT
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jsonw.h"

#define JSONW_CAP_MIN 4096
/* Keys up to this long are written in one copy. */
#define JSONW_KEY_FAST 64
/* The longest number printed: a u64, an i64 or a %.17g double. */
#define JSONW_NUM_MAX 32

static bool jsonw_room(struct jsonw *w, size_t n)
{
	size_t cap = w->cap ? w->cap : JSONW_CAP_MIN;
	char *b;

	if (w->failed)
		return false;
	if (w->len + n + 1 <= w->cap)
		return true;
	while (cap < w->len + n + 1)
		cap *= 2;
	b = realloc(w->buf, cap);
	if (!b) {
		w->failed = true;
		return false;
	}
	w->buf = b;
	w->cap = cap;
	return true;
}

static void jsonw_put(struct jsonw *w, const char *s, size_t n)
{
	if (w->len + n + 1 > w->cap && !jsonw_room(w, n))
		return;
	memcpy(w->buf + w->len, s, n);
	w->len += n;
}

static void jsonw_putc(struct jsonw *w, char ch)
{
	if (w->len + 2 > w->cap && !jsonw_room(w, 1))
		return;
	w->buf[w->len++] = ch;
}

/* \n for a newline and the like, so bodies stay readable; 0 if the
 * control byte has no short form. */
static char jsonw_short_escape(unsigned char ch)
{
	switch (ch) {
	case '\b':
		return 'b';
	case '\f':
		return 'f';
	case '\n':
		return 'n';
	case '\r':
		return 'r';
	case '\t':
		return 't';
	default:
		return 0;
	}
}

/* Escapes the bytes JSON requires: '"', '\\' and controls. */
static void jsonw_escaped(struct jsonw *w, const char *s, size_t n)
{
	static const char hex[] = "0123456789abcdef";
	size_t i, run = 0;
	char esc[6];

	for (i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)s[i];

		if (ch >= 0x20 && ch != '"' && ch != '\\')
			continue;
		jsonw_put(w, s + run, i - run);
		run = i + 1;
		esc[0] = '\\';
		if (ch == '"' || ch == '\\') {
			esc[1] = (char)ch;
			jsonw_put(w, esc, 2);
			continue;
		}
		if (jsonw_short_escape(ch)) {
			esc[1] = jsonw_short_escape(ch);
			jsonw_put(w, esc, 2);
			continue;
		}
		memcpy(esc + 1, "u00", 3);
		esc[4] = hex[ch >> 4];
		esc[5] = hex[ch & 0xf];
		jsonw_put(w, esc, 6);
	}
	jsonw_put(w, s + run, n - run);
}

/* Whether s needs no escape: keys written by the code never do. */
static bool jsonw_plain(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)s[i];

		if (ch < 0x20 || ch == '"' || ch == '\\')
			return false;
	}
	return true;
}

/* The comma and the key before a value. */
static void jsonw_key(struct jsonw *w, const char *key)
{
	char buf[JSONW_KEY_FAST];
	size_t n, k = 0;

	if (w->more[w->depth])
		buf[k++] = ',';
	w->more[w->depth] = true;
	n = key ? strlen(key) : 0;
	if (key && (n + 4 > sizeof(buf) || !jsonw_plain(key, n))) {
		jsonw_put(w, buf, k);
		jsonw_putc(w, '"');
		jsonw_escaped(w, key, n);
		jsonw_put(w, "\":", 2);
		return;
	}
	if (key) {
		buf[k++] = '"';
		memcpy(buf + k, key, n);
		k += n;
		buf[k++] = '"';
		buf[k++] = ':';
	}
	jsonw_put(w, buf, k);
}

void jsonw_reset(struct jsonw *w)
{
	w->len = 0;
	w->depth = 0;
	w->failed = false;
	memset(w->more, 0, sizeof(w->more));
}

void jsonw_free(struct jsonw *w)
{
	free(w->buf);
	memset(w, 0, sizeof(*w));
}

const char *jsonw_text(const struct jsonw *w, size_t *len)
{
	if (w->failed || !w->buf)
		return NULL;
	/* Every put leaves room for it. */
	w->buf[w->len] = '\0';
	*len = w->len;
	return w->buf;
}

void jsonw_open(struct jsonw *w, const char *key)
{
	jsonw_key(w, key);
	jsonw_putc(w, '{');
	if (w->depth + 1 >= JSONW_DEPTH_MAX) {
		w->failed = true;	/* a caller's bug, not the input's */
		return;
	}
	w->more[++w->depth] = false;
}

void jsonw_close(struct jsonw *w)
{
	jsonw_putc(w, '}');
	if (w->depth > 0)
		w->depth--;
}

void jsonw_strn(struct jsonw *w, const char *key, const char *s, size_t n)
{
	jsonw_key(w, key);
	jsonw_putc(w, '"');
	jsonw_escaped(w, s, n);
	jsonw_putc(w, '"');
}

void jsonw_str(struct jsonw *w, const char *key, const char *s)
{
	if (!s) {
		jsonw_null(w, key);
		return;
	}
	jsonw_strn(w, key, s, strlen(s));
}

/* Digits of v, written backwards from the end of buf. */
static char *jsonw_digits(uint64_t v, char *end)
{
	do {
		*--end = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	return end;
}

void jsonw_u64(struct jsonw *w, const char *key, uint64_t v)
{
	char buf[JSONW_NUM_MAX];
	char *end = buf + sizeof(buf);
	char *p = jsonw_digits(v, end);

	jsonw_key(w, key);
	jsonw_put(w, p, (size_t)(end - p));
}

void jsonw_i64(struct jsonw *w, const char *key, int64_t v)
{
	char buf[JSONW_NUM_MAX];
	char *end = buf + sizeof(buf);
	uint64_t mag = v < 0 ? 0 - (uint64_t)v : (uint64_t)v;
	char *p = jsonw_digits(mag, end);

	if (v < 0)
		*--p = '-';
	jsonw_key(w, key);
	jsonw_put(w, p, (size_t)(end - p));
}

void jsonw_real(struct jsonw *w, const char *key, double v, int digits)
{
	char buf[JSONW_NUM_MAX];
	int n;

	if (!isfinite(v)) {
		jsonw_null(w, key);	/* JSON has no NaN or infinity */
		return;
	}
	n = snprintf(buf, sizeof(buf) - 2, "%.*g", digits, v);
	if (n < 0 || (size_t)n >= sizeof(buf) - 2) {
		jsonw_null(w, key);
		return;
	}
	/* Read back as a real, not an integer. */
	if (!strpbrk(buf, ".eEn"))
		memcpy(buf + n, ".0", 3);
	jsonw_key(w, key);
	jsonw_put(w, buf, strlen(buf));
}

void jsonw_milli(struct jsonw *w, const char *key, uint64_t thousandths)
{
	char buf[JSONW_NUM_MAX];
	char *end = buf + sizeof(buf);
	char *p;
	unsigned frac = (unsigned)(thousandths % 1000);
	int digits = 3;

	/* The fraction's digits, trailing zeros dropped, at least one. */
	while (digits > 1 && frac % 10 == 0) {
		frac /= 10;
		digits--;
	}
	for (int i = 0; i < digits; i++) {
		*--end = (char)('0' + frac % 10);
		frac /= 10;
	}
	*--end = '.';
	p = jsonw_digits(thousandths / 1000, end);
	jsonw_key(w, key);
	jsonw_put(w, p, (size_t)(buf + sizeof(buf) - p));
}

void jsonw_bool(struct jsonw *w, const char *key, bool v)
{
	jsonw_key(w, key);
	jsonw_put(w, v ? "true" : "false", v ? 4 : 5);
}

void jsonw_null(struct jsonw *w, const char *key)
{
	jsonw_key(w, key);
	jsonw_put(w, "null", 4);
}

void jsonw_raw(struct jsonw *w, const char *key, const char *json)
{
	jsonw_key(w, key);
	jsonw_put(w, json, strlen(json));
}
