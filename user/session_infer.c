// SPDX-License-Identifier: MIT
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "digest.h"
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
	struct digest hash;	/* reused for every link */
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
	digest_free(&si->hash);
	free(si->v);
	free(si);
}

/* --- the message list ----------------------------------------------- */

/* Where a request keeps its messages: the list, and a system prompt
 * sent apart from it (JV_NONE if none), which counts as the first
 * message so that changing it starts a new conversation. */
struct si_list {
	const struct jview *v;
	int msgs;
	int system;
};

static bool si_find_list(const struct jview *v, int req, struct si_list *l)
{
	static const char *const keys[][2] = {
		{ "messages", "system" },	/* OpenAI chat, Anthropic */
		{ "contents", "systemInstruction" },	/* Gemini */
		{ "input", "instructions" },	/* OpenAI responses */
	};
	int n;

	l->v = v;
	for (size_t k = 0; k < sizeof(keys) / sizeof(keys[0]); k++) {
		l->msgs = jv_get(v, req, keys[k][0]);
		l->system = jv_get(v, req, keys[k][1]);
		if (jv_is_array(v, l->msgs))
			break;
	}
	n = jv_size(v, l->msgs);
	if (!jv_is_array(v, l->msgs) || n == 0 ||
	    n > SESSION_INFER_MAX_MSGS)
		return false;
	if (jv_is_null(v, l->system))
		l->system = JV_NONE;
	return true;
}

/* Role and content of one message; an item without a role (a tool
 * call in the responses API) counts as a whole. role is allocated. */
static void si_parts(const struct jview *v, int m, char **role,
		     int *content)
{
	int c = jv_get(v, m, "content");

	*role = jv_strdup(v, jv_get(v, m, "role"));
	if (c == JV_NONE)
		c = jv_get(v, m, "parts");	/* Gemini */
	if (!*role || c == JV_NONE) {
		free(*role);
		*role = NULL;
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

/* Hashes n bytes of text as json_dumps would print them as a string,
 * without printing it: prompts are most of a body. */
static bool si_hash_text(struct digest *d, const char *s, size_t n)
{
	char buf[SI_HASH_BUF];
	size_t k = 0;

	buf[k++] = '"';
	for (size_t i = 0; i < n; i++) {
		if (k > sizeof(buf) - SI_ESC_MAX) {
			if (!digest_add(d, buf, k))
				return false;
			k = 0;
		}
		k += si_escape((unsigned char)s[i], buf + k);
	}
	buf[k++] = '"';
	return digest_add(d, buf, k);
}

/* A string as it stands in the body is already what json_dumps would
 * print when it has no escape and no control byte; else it is
 * decoded and escaped again. */
static bool si_hash_string(struct digest *d, const struct jview *v, int i)
{
	size_t n;
	const char *raw = jv_raw(v, i, &n);
	char *text;
	bool ok;

	if (jv_is_plain(v, i))
		return digest_add(d, "\"", 1) && digest_add(d, raw, n) &&
		       digest_add(d, "\"", 1);
	text = jv_strdup(v, i);
	ok = text && si_hash_text(d, text, strlen(text));
	free(text);
	return ok;
}

/* Anything but a string, printed canonically (keys sorted) by jansson:
 * the rare case (multimodal parts, tool calls), so parsed apart. */
static bool si_hash_canonical(struct digest *d, const struct jview *v,
			      int i)
{
	size_t n;
	const char *raw = jv_raw(v, i, &n);
	json_t *j = json_loadb(raw, n, JSON_DECODE_ANY, NULL);
	char *canon = j ? json_dumps(j, SI_CANON_FLAGS) : NULL;
	bool ok = canon && digest_add(d, canon, strlen(canon));

	free(canon);
	json_decref(j);
	return ok;
}

static bool si_hash_content(struct digest *d, const struct jview *v,
			    int content)
{
	if (jv_is_string(v, content))
		return si_hash_string(d, v, content);
	return si_hash_canonical(d, v, content);
}

/* Link k: the previous link, the role, the content. */
static int si_link(struct digest *d, const unsigned char *prev,
		   const char *role, const struct jview *v, int content,
		   unsigned char *out)
{
	static const unsigned char zero[SI_DIGEST_LEN];
	bool ok;

	ok = digest_begin(d) &&
	     digest_add(d, prev ? prev : zero, SI_DIGEST_LEN) &&
	     digest_add(d, role, strlen(role) + 1) &&
	     si_hash_content(d, v, content) && digest_end(d, out);
	return ok ? 0 : -ENOMEM;
}

static int si_chain_build(struct session_infer *si, const struct si_list *l,
			  struct si_chain *ch)
{
	size_t n = (size_t)jv_size(l->v, l->msgs) + (l->system != JV_NONE);
	int m = jv_first(l->v, l->msgs), err = 0;
	size_t i = 0;

	ch->link = calloc(n, sizeof(*ch->link));
	if (!ch->link)
		return -ENOMEM;
	ch->n = n;
	if (l->system != JV_NONE)
		err = si_link(&si->hash, NULL, "system", l->v, l->system,
			      ch->link[i++]);
	for (; !err && i < n && m != JV_NONE; i++) {
		char *role;
		int content;

		si_parts(l->v, m, &role, &content);
		err = si_link(&si->hash, i ? ch->link[i - 1] : NULL,
			      role ? role : "", l->v, content, ch->link[i]);
		free(role);
		m = jv_skip(l->v, m);
	}
	if (!err && i < n)
		err = -EINVAL;	/* the view ended early: cannot happen */
	return err;
}

/* Hashes the messages of a body read. */
static int si_chain_of(struct session_infer *si, const struct jview *v,
		       int req, struct si_chain *ch)
{
	struct si_list l;

	if (!jv_is_object(v, req) || !si_find_list(v, req, &l))
		return -ENOENT;
	return si_chain_build(si, &l, ch);
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
	if (!digest_once(in, sizeof(in), d))
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
	struct jview v = { 0 };
	int err = -ENOENT;

	if (body && jview_parse(&v, body, len) == 0)
		err = session_infer_assign_view(si, pid, ts_ns, &v,
						jv_root(&v), id);
	jview_free(&v);
	return err;
}

int session_infer_assign_view(struct session_infer *si, uint32_t pid,
			      uint64_t ts_ns, const struct jview *v, int req,
			      char id[SESSION_INFER_ID_LEN])
{
	struct si_chain ch = { 0 };
	struct si_entry *e;
	int err;

	err = si_chain_of(si, v, req, &ch);
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
