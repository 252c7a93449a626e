// SPDX-License-Identifier: MIT
#include <ctype.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "redact.h"

#define REDACT_MASK_LEN (sizeof(REDACT_MASK) - 1)
/* Body text past the cut still scanned, so a key across it is seen. */
#define REDACT_KEY_MAX 1024

/*
 * A header is secret when its name contains one of these: it covers
 * the named ones (Authorization, x-api-key, api-key, x-goog-api-key,
 * Cookie, Set-Cookie, Proxy-Authorization) and the variants proxies
 * invent (Helicone-Auth, X-Auth-Token), at the price of masking a few
 * harmless ones such as Idempotency-Key.
 */
static const char *const redact_hdr_words[] = {
	"auth", "key", "token", "secret", "cookie", "password", "signature",
};

/* Query parameters whose values are credentials. */
static const char *const redact_params[] = {
	"key",	 "api_key",	  "apikey",   "api-key", "access_token",
	"token", "client_secret", "password", "sig",	 "signature",
};

struct redact_prefix {
	const char *prefix;
	size_t min_rest;	/* key characters needed after the prefix */
};

/* OpenAI and Anthropic (sk-, sk-ant-, sk-proj-), Google (AIza + 35),
 * Groq, xAI and Hugging Face keys. */
static const struct redact_prefix redact_prefixes[] = {
	{ "sk-", 20 }, { "AIza", 30 }, { "gsk_", 20 },
	{ "xai-", 20 }, { "hf_", 20 },
};

#define REDACT_N(a) (sizeof(a) / sizeof((a)[0]))

/* Whether one of the words starts at s, whatever its case. */
static bool redact_word_at(const char *s)
{
	int first = tolower((unsigned char)*s);

	for (size_t i = 0; i < REDACT_N(redact_hdr_words); i++) {
		const char *w = redact_hdr_words[i];
		size_t k = 1;

		if (w[0] != first)
			continue;
		while (w[k] && tolower((unsigned char)s[k]) == w[k])
			k++;
		if (!w[k])
			return true;
	}
	return false;
}

/* One pass over the name, in place of a case-blind search per word:
 * every header of every exchange comes through here. */
bool redact_header_is_secret(const char *name)
{
	for (const char *s = name; *s; s++)
		if (redact_word_at(s))
			return true;
	return false;
}

static bool redact_param_is_secret(const char *name, size_t len)
{
	for (size_t i = 0; i < REDACT_N(redact_params); i++) {
		if (strlen(redact_params[i]) == len &&
		    strncasecmp(redact_params[i], name, len) == 0)
			return true;
	}
	return false;
}

/* Appends one "name=value" parameter of length len to out. */
static char *redact_param(char *out, const char *p, size_t len)
{
	const char *eq = memchr(p, '=', len);
	size_t nlen = eq ? (size_t)(eq - p) : len;

	if (!eq || !redact_param_is_secret(p, nlen)) {
		memcpy(out, p, len);
		return out + len;
	}
	memcpy(out, p, nlen + 1);
	memcpy(out + nlen + 1, REDACT_MASK, REDACT_MASK_LEN);
	return out + nlen + 1 + REDACT_MASK_LEN;
}

static size_t redact_count_params(const char *q)
{
	size_t n = 1;

	for (; *q; q++)
		n += *q == '&' || *q == ';';
	return n;
}

char *redact_path(const char *path)
{
	const char *q = strchr(path, '?');
	size_t len = strlen(path);
	char *out, *o;

	if (!q)
		return strdup(path);
	/* Each parameter can grow by at most the mask. */
	out = malloc(len + redact_count_params(q) * REDACT_MASK_LEN + 1);
	if (!out)
		return NULL;
	q++;
	memcpy(out, path, (size_t)(q - path));
	o = out + (q - path);
	while (*q) {
		size_t plen = strcspn(q, "&;");

		o = redact_param(o, q, plen);
		q += plen;
		if (*q)
			*o++ = *q++;
	}
	*o = '\0';
	return out;
}

/* Length of the valid UTF-8 sequence at s, 0 if it is not one (RFC
 * 3629 section 4: no overlongs, surrogates or code points past
 * U+10FFFF, which jansson would refuse). */
static size_t redact_utf8(const uint8_t *s, size_t n)
{
	uint32_t cp;
	size_t len, i;

	if (s[0] < 0x80)
		return 1;
	if (s[0] >= 0xc2 && s[0] <= 0xdf)
		len = 2;
	else if (s[0] >= 0xe0 && s[0] <= 0xef)
		len = 3;
	else if (s[0] >= 0xf0 && s[0] <= 0xf4)
		len = 4;
	else
		return 0;
	if (n < len)
		return 0;
	cp = s[0] & (0x3f >> (len - 1));
	for (i = 1; i < len; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = (cp << 6) | (s[i] & 0x3f);
	}
	if ((len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) ||
	    (cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff)
		return 0;
	return len;
}

static bool redact_key_char(char c)
{
	return isalnum((unsigned char)c) || c == '-' || c == '_';
}

/* Length of the API key starting at s[i], 0 if none does. */
static size_t redact_key_at(const char *s, size_t n, size_t i)
{
	size_t j, plen;

	if (i > 0 && redact_key_char(s[i - 1]))
		return 0;
	for (size_t k = 0; k < REDACT_N(redact_prefixes); k++) {
		plen = strlen(redact_prefixes[k].prefix);
		if (n - i < plen ||
		    memcmp(s + i, redact_prefixes[k].prefix, plen))
			continue;
		j = i + plen;
		while (j < n && redact_key_char(s[j]))
			j++;
		if (j - i - plen >= redact_prefixes[k].min_rest)
			return j - i;
	}
	return 0;
}

/* Copies s to out masking keys and turning bad UTF-8 into '?';
 * returns the bytes written, never more than n. */
static size_t redact_scan(const char *s, size_t n, char *out)
{
	size_t i = 0, o = 0, k;

	while (i < n) {
		k = redact_key_at(s, n, i);
		if (k) {
			memcpy(out + o, REDACT_MASK, REDACT_MASK_LEN);
			o += REDACT_MASK_LEN;
			i += k;
			continue;
		}
		k = redact_utf8((const uint8_t *)s + i, n - i);
		if (!k) {
			out[o++] = '?';
			i++;
			continue;
		}
		memcpy(out + o, s + i, k);
		o += k;
		i += k;
	}
	return o;
}

/* The shortest text a key can be: the shortest prefix and rest. */
static size_t redact_key_min(void)
{
	size_t min = SIZE_MAX;

	for (size_t k = 0; k < REDACT_N(redact_prefixes); k++) {
		size_t n = strlen(redact_prefixes[k].prefix) +
			   redact_prefixes[k].min_rest;

		if (n < min)
			min = n;
	}
	return min;
}

bool redact_text_is_plain(const char *text, size_t len)
{
	if (len >= redact_key_min())
		return false;
	for (size_t i = 0; i < len; i++)
		if ((unsigned char)text[i] >= 0x80 || text[i] == '\0')
			return false;
	return true;
}

char *redact_body(const char *text, size_t len, size_t limit, bool *cut)
{
	size_t n = len;
	size_t o;
	char *out;

	if (limit < SIZE_MAX - REDACT_KEY_MAX && n > limit + REDACT_KEY_MAX)
		n = limit + REDACT_KEY_MAX;
	out = malloc(n + 1);
	if (!out)
		return NULL;
	o = n ? redact_scan(text, n, out) : 0;
	if (cut)
		*cut = n < len || o > limit;
	if (o > limit) {
		o = limit;
		/* Do not leave half a character. */
		while (o > 0 && ((uint8_t)out[o] & 0xc0) == 0x80)
			o--;
	}
	out[o] = '\0';
	return out;
}

static int redact_header_add(json_t *obj, const char *name,
			     const char *value, bool secret)
{
	const char *old = json_string_value(json_object_get(obj, name));
	char *val, *joined = NULL;
	int err;

	val = secret ? strdup(REDACT_MASK) :
		       redact_body(value, strlen(value), SIZE_MAX, NULL);
	if (!val)
		return -1;
	if (old && asprintf(&joined, "%s, %s", old, val) < 0)
		joined = NULL;
	err = json_object_set_new(obj, name,
				  json_string(joined ? joined : val));
	free(joined);
	free(val);
	return err;
}

json_t *redact_headers_json(const struct hdr_list *l)
{
	json_t *obj = json_object();
	const struct hdr *h;
	char *name;

	for (size_t i = 0; obj && i < l->n; i++) {
		h = &l->v[i];
		/* A key must be valid UTF-8 too. */
		name = redact_body(h->name, strlen(h->name), SIZE_MAX, NULL);
		if (name)
			redact_header_add(obj, name, h->value,
					  redact_header_is_secret(h->name));
		free(name);
	}
	return obj;
}
