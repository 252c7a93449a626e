// SPDX-License-Identifier: MIT
/* The fast path for recording lines; see recline.h. */
#include <errno.h>
#include <string.h>

#include "recline.h"

/* Each field ends one or two strings (key and value). */
#define RL_ENDS_MAX (2 * RECLINE_FIELDS_MAX)

/* Past 19 digits an integer may not fit in int64: jansson decides. */
#define RL_DIGITS_MAX 19

/* Bytes a fast-path string may hold: printable ASCII but '"' and
 * the backslash that would start an escape. */
static const bool rl_plain[256] = {
	[0x20 ... 0x21] = true,
	[0x23 ... 0x5b] = true,
	[0x5d ... 0x7e] = true,
};

#define RL_ONES 0x0101010101010101ull
#define RL_HIGHS 0x8080808080808080ull

/* Whether any byte of w is below n (n <= 0x80), bit tricks on all
 * eight bytes at once. */
static uint64_t rl_any_below(uint64_t w, uint64_t n)
{
	return (w - RL_ONES * n) & ~w & RL_HIGHS;
}

static uint64_t rl_any_equal(uint64_t w, unsigned char ch)
{
	return rl_any_below(w ^ (RL_ONES * ch), 1);
}

/* Whether the eight bytes at p are all rl_plain: a base64 payload is
 * most of a recording, and this reads it a word at a time. */
static bool rl_plain8(const char *p)
{
	uint64_t w;

	memcpy(&w, p, sizeof(w));
	return !((w & RL_HIGHS) | rl_any_below(w, 0x20) |
		 rl_any_equal(w, 0x7f) | rl_any_equal(w, '"') |
		 rl_any_equal(w, '\\'));
}

struct rl_scan {
	char *s;
	char *end;
	char *ends[RL_ENDS_MAX];	/* closing quotes, NULs once done */
	size_t nends;
};

/* RFC 8259 section 2: the four whitespace bytes. */
static void rl_ws(struct rl_scan *sc)
{
	while (sc->s < sc->end && (*sc->s == ' ' || *sc->s == '\t' ||
				   *sc->s == '\r' || *sc->s == '\n'))
		sc->s++;
}

static bool rl_eat(struct rl_scan *sc, char ch)
{
	if (sc->s >= sc->end || *sc->s != ch)
		return false;
	sc->s++;
	return true;
}

/* A string of printable ASCII with no escapes; anything else (valid
 * or not) is left to jansson. */
static bool rl_string(struct rl_scan *sc, const char **out)
{
	char *start, *close;

	if (!rl_eat(sc, '"') || sc->nends == RL_ENDS_MAX)
		return false;
	start = sc->s;
	close = start;
	while (sc->end - close >= 8 && rl_plain8(close))
		close += 8;
	while (close < sc->end && rl_plain[(unsigned char)*close])
		close++;
	if (close == sc->end || *close != '"')
		return false;
	sc->ends[sc->nends++] = close;
	sc->s = close + 1;
	*out = start;
	return true;
}

/* An integer as jansson reads one: no leading zeros, no fraction or
 * exponent (those make a real, which the caller's next check sends
 * to jansson), within int64. */
static bool rl_int(struct rl_scan *sc, int64_t *out)
{
	char *s = sc->s, *digits;
	bool neg = s < sc->end && *s == '-';
	uint64_t v = 0;
	size_t nd;

	s += neg;
	digits = s;
	while (s < sc->end && *s >= '0' && *s <= '9' &&
	       s - digits <= RL_DIGITS_MAX) {
		v = v * 10 + (uint64_t)(*s - '0');
		s++;
	}
	nd = (size_t)(s - digits);
	if (nd == 0 || nd > RL_DIGITS_MAX || (nd > 1 && *digits == '0'))
		return false;
	if (v > INT64_MAX)
		return false;
	*out = neg ? -(int64_t)v : (int64_t)v;
	sc->s = s;
	return true;
}

static bool rl_word(struct rl_scan *sc, const char *w)
{
	size_t n = strlen(w);

	if ((size_t)(sc->end - sc->s) < n || memcmp(sc->s, w, n))
		return false;
	sc->s += n;
	return true;
}

static bool rl_value(struct rl_scan *sc, struct recline_field *f)
{
	if (sc->s >= sc->end)
		return false;
	if (*sc->s == '"') {
		f->kind = RECLINE_STR;
		return rl_string(sc, &f->str);
	}
	f->kind = RECLINE_TRUE;
	if (rl_word(sc, "true"))
		return true;
	f->kind = RECLINE_FALSE;
	if (rl_word(sc, "false"))
		return true;
	f->kind = RECLINE_NULL;
	if (rl_word(sc, "null"))
		return true;
	f->kind = RECLINE_INT;
	return rl_int(sc, &f->num);
}

/* "key": value, then the whitespace after it. */
static bool rl_member(struct rl_scan *sc, struct recline *rl)
{
	struct recline_field *f;

	if (rl->n == RECLINE_FIELDS_MAX)
		return false;
	f = &rl->f[rl->n++];
	if (!rl_string(sc, &f->key))
		return false;
	rl_ws(sc);
	if (!rl_eat(sc, ':'))
		return false;
	rl_ws(sc);
	if (!rl_value(sc, f))
		return false;
	rl_ws(sc);
	return true;
}

/* A value must be followed by ',' or '}', so "12.5", "1e3" or "truex"
 * stop here and go to jansson. */
static bool rl_fast(struct recline *rl, char *line, size_t len)
{
	struct rl_scan sc = { .s = line, .end = line + len };

	rl_ws(&sc);
	if (!rl_eat(&sc, '{'))
		return false;
	rl_ws(&sc);
	if (!rl_eat(&sc, '}')) {
		do {
			rl_ws(&sc);
			if (!rl_member(&sc, rl))
				return false;
		} while (rl_eat(&sc, ','));
		if (!rl_eat(&sc, '}'))
			return false;
	}
	rl_ws(&sc);
	if (sc.s != sc.end)
		return false;
	for (size_t i = 0; i < sc.nends; i++)
		*sc.ends[i] = '\0';
	return true;
}

int recline_parse(struct recline *rl, char *line, size_t len)
{
	json_error_t jerr;

	rl->json = NULL;
	rl->n = 0;
	if (rl_fast(rl, line, len))
		return 0;
	rl->n = 0;
	rl->json = json_loadb(line, len, 0, &jerr);
	return rl->json ? 0 : -EINVAL;
}

void recline_free(struct recline *rl)
{
	json_decref(rl->json);
	rl->json = NULL;
	rl->n = 0;
}

/* The last field named key, as jansson keeps the last of duplicates. */
static const struct recline_field *rl_find(const struct recline *rl,
					   const char *key)
{
	/* Two bytes first: most keys differ there. */
	for (size_t i = rl->n; i > 0; i--) {
		const char *k = rl->f[i - 1].key;

		if (k[0] == key[0] && (!k[0] || (k[1] == key[1] &&
						 strcmp(k, key) == 0)))
			return &rl->f[i - 1];
	}
	return NULL;
}

const char *recline_str(const struct recline *rl, const char *key)
{
	const struct recline_field *f;

	if (rl->json)
		return json_string_value(json_object_get(rl->json, key));
	f = rl_find(rl, key);
	return f && f->kind == RECLINE_STR ? f->str : NULL;
}

bool recline_int(const struct recline *rl, const char *key, int64_t *out)
{
	const struct recline_field *f;
	json_t *v;

	if (rl->json) {
		v = json_object_get(rl->json, key);
		if (!json_is_integer(v))
			return false;
		*out = json_integer_value(v);
		return true;
	}
	f = rl_find(rl, key);
	if (!f || f->kind != RECLINE_INT)
		return false;
	*out = f->num;
	return true;
}

bool recline_true(const struct recline *rl, const char *key)
{
	const struct recline_field *f;

	if (rl->json)
		return json_is_true(json_object_get(rl->json, key));
	f = rl_find(rl, key);
	return f && f->kind == RECLINE_TRUE;
}
