// SPDX-License-Identifier: MIT
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <openssl/evp.h>

#include "session_infer.h"

/* A message list is known by a chain of SHA-256 digests: link k hashes
 * link k-1 with message k, so one comparison of link k tells whether
 * two lists share their first k messages. */
#define SI_DIGEST_LEN 32
#define SI_ID_PREFIX "inf-"
#define SI_ID_BYTES 8
#define SI_CANON_FLAGS (JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY)
/* Entries are chained by pid so a call looks only at its process's
 * conversations, not at the whole table. A power of two. */
#define SI_PID_BUCKETS 1024
/* Escaped string bytes hashed at a time; one byte escapes to 6. */
#define SI_HASH_BUF 4096
#define SI_ESC_MAX 6

struct si_entry {
	bool used;
	uint32_t pid;
	size_t nmsgs;
	unsigned char link[SI_DIGEST_LEN];	/* of the whole list */
	uint64_t ts_ns;	/* its latest call */
	char id[SESSION_INFER_ID_LEN];
	struct si_entry *pid_next;	/* same pid bucket */
	struct si_entry *lru_prev;	/* toward the least recently used */
	struct si_entry *lru_next;
};

struct session_infer {
	struct si_entry *v;
	size_t nused;	/* v[nused..] were never used */
	struct si_entry *by_pid[SI_PID_BUCKETS];
	struct si_entry *lru_old;	/* least recently used: reused first */
	struct si_entry *lru_new;
};

/* The chain links of one request's message list. */
struct si_chain {
	unsigned char (*link)[SI_DIGEST_LEN];
	size_t n;
};

struct session_infer *session_infer_new(void)
{
	struct session_infer *si = calloc(1, sizeof(*si));

	if (!si)
		return NULL;
	si->v = calloc(SESSION_INFER_MAX_ENTRIES, sizeof(*si->v));
	if (!si->v) {
		free(si);
		return NULL;
	}
	return si;
}

void session_infer_free(struct session_infer *si)
{
	if (!si)
		return;
	free(si->v);
	free(si);
}

/* --- the message list ----------------------------------------------- */

/* A system prompt sent apart from the messages counts as the first
 * message, so that changing it starts a new conversation. */
static int si_add_system(json_t *list, const json_t *sys)
{
	json_t *m;

	if (!sys || json_is_null(sys))
		return 0;
	m = json_pack("{s:s, s:O}", "role", "system", "content", sys);
	return json_array_append_new(list, m);
}

/* The messages of a request body in order, as a new array; NULL when
 * the body has none. */
static json_t *si_messages(const json_t *req)
{
	const json_t *msgs = json_object_get(req, "messages");
	const json_t *sys = json_object_get(req, "system");
	json_t *list;

	if (!json_is_array(msgs)) {
		msgs = json_object_get(req, "contents");
		sys = json_object_get(req, "systemInstruction");
	}
	if (!json_is_array(msgs)) {
		msgs = json_object_get(req, "input");
		sys = json_object_get(req, "instructions");
	}
	if (!json_is_array(msgs) || json_array_size(msgs) == 0 ||
	    json_array_size(msgs) > SESSION_INFER_MAX_MSGS)
		return NULL;
	list = json_array();
	if (!list || si_add_system(list, sys) ||
	    json_array_extend(list, (json_t *)msgs)) {
		json_decref(list);
		return NULL;
	}
	return list;
}

/* Role and content of one message; an item without a role (a tool
 * call in the responses API) counts as a whole. */
static void si_parts(const json_t *m, const char **role,
		     const json_t **content)
{
	const json_t *c = json_object_get(m, "content");

	*role = json_string_value(json_object_get(m, "role"));
	if (!c)
		c = json_object_get(m, "parts");	/* Gemini */
	if (!*role || !c) {
		*role = "";
		c = m;
	}
	*content = c;
}

/* Adds one byte of a string as jansson's json_dumps writes it: '"',
 * '\\' and control bytes escaped (\b \t \n \f \r, else \u00XX in
 * capitals), every other byte, UTF-8 included, as it is. */
static size_t si_escape(unsigned char ch, char *o)
{
	static const char hex[] = "0123456789ABCDEF";
	static const char short_esc[] = "btn\0fr";

	if (ch >= 0x20 && ch != '"' && ch != '\\') {
		o[0] = (char)ch;
		return 1;
	}
	o[0] = '\\';
	if (ch == '"' || ch == '\\') {
		o[1] = (char)ch;
		return 2;
	}
	if (ch >= '\b' && ch <= '\r' && ch != '\v') {
		o[1] = short_esc[ch - '\b'];
		return 2;
	}
	memcpy(o + 1, "u00", 3);
	o[4] = hex[ch >> 4];
	o[5] = hex[ch & 0xf];
	return 6;
}

/* Hashes a string content as json_dumps(content, SI_CANON_FLAGS)
 * would print it, without printing it: prompts are most of a body. */
static bool si_hash_string(EVP_MD_CTX *ctx, const json_t *str)
{
	const char *s = json_string_value(str);
	size_t n = json_string_length(str), k = 0;
	char buf[SI_HASH_BUF];

	buf[k++] = '"';
	for (size_t i = 0; i < n; i++) {
		if (k > sizeof(buf) - SI_ESC_MAX) {
			if (!EVP_DigestUpdate(ctx, buf, k))
				return false;
			k = 0;
		}
		k += si_escape((unsigned char)s[i], buf + k);
	}
	buf[k++] = '"';
	return EVP_DigestUpdate(ctx, buf, k);
}

static bool si_hash_content(EVP_MD_CTX *ctx, const json_t *content)
{
	char *canon;
	bool ok;

	if (json_is_string(content))
		return si_hash_string(ctx, content);
	canon = json_dumps(content, SI_CANON_FLAGS);
	ok = canon && EVP_DigestUpdate(ctx, canon, strlen(canon));
	free(canon);
	return ok;
}

static int si_link(const unsigned char *prev, const json_t *m,
		   unsigned char *out)
{
	static const unsigned char zero[SI_DIGEST_LEN];
	const json_t *content;
	const char *role;
	EVP_MD_CTX *ctx;
	int ok;

	si_parts(m, &role, &content);
	ctx = EVP_MD_CTX_new();
	ok = ctx && EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) &&
	     EVP_DigestUpdate(ctx, prev ? prev : zero, SI_DIGEST_LEN) &&
	     EVP_DigestUpdate(ctx, role, strlen(role) + 1) &&
	     si_hash_content(ctx, content) &&
	     EVP_DigestFinal_ex(ctx, out, NULL);
	EVP_MD_CTX_free(ctx);
	return ok ? 0 : -ENOMEM;
}

static int si_chain_build(const json_t *list, struct si_chain *ch)
{
	size_t n = json_array_size(list);

	ch->link = calloc(n, sizeof(*ch->link));
	if (!ch->link)
		return -ENOMEM;
	ch->n = n;
	for (size_t i = 0; i < n; i++) {
		int err = si_link(i ? ch->link[i - 1] : NULL,
				  json_array_get(list, i), ch->link[i]);

		if (err)
			return err;
	}
	return 0;
}

/* Hashes the messages of a parsed body. */
static int si_chain_of(const json_t *req, struct si_chain *ch)
{
	json_t *list = json_is_object(req) ? si_messages(req) : NULL;
	int err = list ? si_chain_build(list, ch) : -ENOENT;

	json_decref(list);
	return err;
}

/* --- the table ------------------------------------------------------ */

static bool si_live(const struct si_entry *e, uint32_t pid, uint64_t ts)
{
	if (!e->used || e->pid != pid)
		return false;
	/* A call older than the entry (replayed out of order) still fits. */
	return ts < e->ts_ns || ts - e->ts_ns <= SESSION_INFER_TTL_NS;
}

static struct si_entry **si_bucket(struct session_infer *si, uint32_t pid)
{
	return &si->by_pid[(pid * 2654435761u) & (SI_PID_BUCKETS - 1)];
}

/* The live entry of pid whose list is the longest prefix of ch; of
 * equals, the first in the table, as a scan of the table finds. */
static struct si_entry *si_find(struct session_infer *si, uint32_t pid,
				uint64_t ts, const struct si_chain *ch)
{
	struct si_entry *best = NULL;

	for (struct si_entry *e = *si_bucket(si, pid); e; e = e->pid_next) {
		if (!si_live(e, pid, ts) || e->nmsgs > ch->n)
			continue;
		if (memcmp(e->link, ch->link[e->nmsgs - 1], SI_DIGEST_LEN))
			continue;
		if (!best || e->nmsgs > best->nmsgs ||
		    (e->nmsgs == best->nmsgs && e < best))
			best = e;
	}
	return best;
}

static void si_lru_unlink(struct session_infer *si, struct si_entry *e)
{
	if (e->lru_prev)
		e->lru_prev->lru_next = e->lru_next;
	else
		si->lru_old = e->lru_next;
	if (e->lru_next)
		e->lru_next->lru_prev = e->lru_prev;
	else
		si->lru_new = e->lru_prev;
	e->lru_prev = e->lru_next = NULL;
}

/* Marks e used now: to the recent end of the LRU list. */
static void si_touch(struct session_infer *si, struct si_entry *e)
{
	if (e->lru_prev || si->lru_old == e)
		si_lru_unlink(si, e);
	e->lru_prev = si->lru_new;
	if (si->lru_new)
		si->lru_new->lru_next = e;
	else
		si->lru_old = e;
	si->lru_new = e;
}

/* A free slot, else the least recently used one, out of its chain. */
static struct si_entry *si_slot(struct session_infer *si)
{
	struct si_entry *e, **pp;

	if (si->nused < SESSION_INFER_MAX_ENTRIES)
		return &si->v[si->nused++];
	e = si->lru_old;
	for (pp = si_bucket(si, e->pid); *pp != e; pp = &(*pp)->pid_next)
		;
	*pp = e->pid_next;
	e->pid_next = NULL;
	return e;
}

static void si_new_id(uint32_t pid, const unsigned char *first,
		      char id[SESSION_INFER_ID_LEN])
{
	static const char hex[] = "0123456789abcdef";
	unsigned char in[sizeof(pid) + SI_DIGEST_LEN];
	unsigned char d[SI_DIGEST_LEN];
	size_t n;

	memcpy(in, &pid, sizeof(pid));
	memcpy(in + sizeof(pid), first, SI_DIGEST_LEN);
	if (!EVP_Digest(in, sizeof(in), d, NULL, EVP_sha256(), NULL))
		memset(d, 0, sizeof(d));
	n = strlen(SI_ID_PREFIX);
	memcpy(id, SI_ID_PREFIX, n);
	for (size_t i = 0; i < SI_ID_BYTES; i++) {
		id[n++] = hex[d[i] >> 4];
		id[n++] = hex[d[i] & 0xf];
	}
	id[n] = '\0';
}

static void si_remember(struct session_infer *si, uint32_t pid,
			uint64_t ts, const struct si_chain *ch,
			const char *id)
{
	struct si_entry *e = si_slot(si);
	struct si_entry **b = si_bucket(si, pid);

	e->used = true;
	e->pid = pid;
	e->nmsgs = ch->n;
	memcpy(e->link, ch->link[ch->n - 1], SI_DIGEST_LEN);
	e->ts_ns = ts;
	si_touch(si, e);
	e->pid_next = *b;
	*b = e;
	snprintf(e->id, sizeof(e->id), "%s", id);
}

int session_infer_assign(struct session_infer *si, uint32_t pid,
			 uint64_t ts_ns, const char *body, size_t len,
			 char id[SESSION_INFER_ID_LEN])
{
	json_t *req = json_loadb(body, len, 0, NULL);
	int err = session_infer_assign_json(si, pid, ts_ns, req, id);

	json_decref(req);
	return err;
}

int session_infer_assign_json(struct session_infer *si, uint32_t pid,
			      uint64_t ts_ns, const json_t *req,
			      char id[SESSION_INFER_ID_LEN])
{
	struct si_chain ch = { 0 };
	struct si_entry *e;
	int err;

	err = si_chain_of(req, &ch);
	if (err)
		goto out;

	/* Same list again (a retry): refresh; longer: a new turn. */
	e = si_find(si, pid, ts_ns, &ch);
	if (e && e->nmsgs == ch.n) {
		e->ts_ns = ts_ns > e->ts_ns ? ts_ns : e->ts_ns;
		si_touch(si, e);
		snprintf(id, SESSION_INFER_ID_LEN, "%s", e->id);
		goto out;
	}
	if (e)
		snprintf(id, SESSION_INFER_ID_LEN, "%s", e->id);
	else
		si_new_id(pid, ch.link[ch.n - 1], id);
	si_remember(si, pid, ts_ns, &ch, id);
out:
	free(ch.link);
	return err;
}
