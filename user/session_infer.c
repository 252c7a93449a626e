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

struct si_entry {
	bool used;
	uint32_t pid;
	size_t nmsgs;
	unsigned char link[SI_DIGEST_LEN];	/* of the whole list */
	uint64_t ts_ns;	/* its latest call */
	uint64_t tick;	/* last use, for LRU eviction */
	char id[SESSION_INFER_ID_LEN];
};

struct session_infer {
	struct si_entry *v;
	uint64_t tick;
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

static int si_link(const unsigned char *prev, const json_t *m,
		   unsigned char *out)
{
	static const unsigned char zero[SI_DIGEST_LEN];
	const json_t *content;
	const char *role;
	char *canon;
	EVP_MD_CTX *ctx;
	int ok;

	si_parts(m, &role, &content);
	canon = json_dumps(content, SI_CANON_FLAGS);
	ctx = EVP_MD_CTX_new();
	ok = canon && ctx && EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) &&
	     EVP_DigestUpdate(ctx, prev ? prev : zero, SI_DIGEST_LEN) &&
	     EVP_DigestUpdate(ctx, role, strlen(role) + 1) &&
	     EVP_DigestUpdate(ctx, canon, strlen(canon)) &&
	     EVP_DigestFinal_ex(ctx, out, NULL);
	EVP_MD_CTX_free(ctx);
	free(canon);
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

/* Parses the body and hashes its messages. */
static int si_chain_of_body(const char *body, size_t len,
			    struct si_chain *ch)
{
	json_t *req = json_loadb(body, len, 0, NULL);
	json_t *list = json_is_object(req) ? si_messages(req) : NULL;
	int err = list ? si_chain_build(list, ch) : -ENOENT;

	json_decref(list);
	json_decref(req);
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

/* The live entry of pid whose list is the longest prefix of ch. */
static struct si_entry *si_find(struct session_infer *si, uint32_t pid,
				uint64_t ts, const struct si_chain *ch)
{
	struct si_entry *best = NULL;

	for (size_t i = 0; i < SESSION_INFER_MAX_ENTRIES; i++) {
		struct si_entry *e = &si->v[i];

		if (!si_live(e, pid, ts) || e->nmsgs > ch->n)
			continue;
		if (memcmp(e->link, ch->link[e->nmsgs - 1], SI_DIGEST_LEN))
			continue;
		if (!best || e->nmsgs > best->nmsgs)
			best = e;
	}
	return best;
}

/* A free slot, else the least recently used one. */
static struct si_entry *si_slot(struct session_infer *si)
{
	struct si_entry *lru = &si->v[0];

	for (size_t i = 0; i < SESSION_INFER_MAX_ENTRIES; i++) {
		if (!si->v[i].used)
			return &si->v[i];
		if (si->v[i].tick < lru->tick)
			lru = &si->v[i];
	}
	return lru;
}

static void si_new_id(uint32_t pid, const unsigned char *first,
		      char id[SESSION_INFER_ID_LEN])
{
	unsigned char in[sizeof(pid) + SI_DIGEST_LEN];
	unsigned char d[SI_DIGEST_LEN];
	size_t n;

	memcpy(in, &pid, sizeof(pid));
	memcpy(in + sizeof(pid), first, SI_DIGEST_LEN);
	if (!EVP_Digest(in, sizeof(in), d, NULL, EVP_sha256(), NULL))
		memset(d, 0, sizeof(d));
	n = (size_t)snprintf(id, SESSION_INFER_ID_LEN, SI_ID_PREFIX);
	for (size_t i = 0; i < SI_ID_BYTES; i++)
		n += (size_t)snprintf(id + n, SESSION_INFER_ID_LEN - n,
				      "%02x", d[i]);
}

static void si_remember(struct session_infer *si, uint32_t pid,
			uint64_t ts, const struct si_chain *ch,
			const char *id)
{
	struct si_entry *e = si_slot(si);

	e->used = true;
	e->pid = pid;
	e->nmsgs = ch->n;
	memcpy(e->link, ch->link[ch->n - 1], SI_DIGEST_LEN);
	e->ts_ns = ts;
	e->tick = ++si->tick;
	snprintf(e->id, sizeof(e->id), "%s", id);
}

int session_infer_assign(struct session_infer *si, uint32_t pid,
			 uint64_t ts_ns, const char *body, size_t len,
			 char id[SESSION_INFER_ID_LEN])
{
	struct si_chain ch = { 0 };
	struct si_entry *e;
	int err;

	err = si_chain_of_body(body, len, &ch);
	if (err)
		goto out;

	/* Same list again (a retry): refresh; longer: a new turn. */
	e = si_find(si, pid, ts_ns, &ch);
	if (e && e->nmsgs == ch.n) {
		e->ts_ns = ts_ns > e->ts_ns ? ts_ns : e->ts_ns;
		e->tick = ++si->tick;
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
