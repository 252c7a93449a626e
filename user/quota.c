// SPDX-License-Identifier: MIT
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "log.h"
#include "quota.h"

/* A window is kept as this many slots: usage older than the window
 * drops out one slot at a time. */
#define QUOTA_SLOTS 60
#define QUOTA_HASH_BUCKETS 1024
#define QUOTA_KEY_LEN 128
#define QUOTA_POLICY_LEN 128
#define NS_PER_S 1000000000ull

struct quota_key {
	char key[QUOTA_KEY_LEN];
	double slots[QUOTA_SLOTS];
	uint64_t slot_id[QUOTA_SLOTS];	/* which slot time each holds */
	bool over;
	bool blocked;	/* the kernel refuses its connections */
	struct lt_blocked who;
	struct quota_key *next;
};

struct quota_state {
	struct quota_rule rule;
	char policy[QUOTA_POLICY_LEN];	/* "" unless from a header */
	struct quota_key *buckets[QUOTA_HASH_BUCKETS];
	size_t nkeys;
	uint64_t untracked;
};

struct quota {
	struct quota_state *rules[QUOTA_RULES_MAX];
	size_t n;
	struct quota_hooks hooks;
};

static const char *const scope_names[] = {
	[QUOTA_GLOBAL] = "global", [QUOTA_UID] = "uid",
	[QUOTA_PROCESS] = "process", [QUOTA_CGROUP] = "cgroup",
	[QUOTA_USER_ID] = "user_id", [QUOTA_SESSION] = "session",
};

static const char *const metric_names[] = {
	[QUOTA_REQUESTS] = "requests", [QUOTA_TOKENS] = "tokens",
	[QUOTA_COST] = "cost",
};

static int name_index(const char *const *names, int n, const char *s)
{
	for (int i = 0; i < n; i++) {
		if (names[i] && strcmp(names[i], s) == 0)
			return i;
	}
	return -EINVAL;
}

int quota_metric_parse(const char *s, enum quota_metric *out)
{
	int i = name_index(metric_names, 3, s);

	if (i < 0)
		return i;
	*out = (enum quota_metric)i;
	return 0;
}

int quota_scope_parse(const char *s, enum quota_scope *out)
{
	int i = name_index(scope_names, 6, s);

	/* A container is enforced through its cgroup. */
	if (i < 0 && strcmp(s, "container") == 0)
		i = QUOTA_CGROUP;
	if (i < 0)
		return i;
	*out = (enum quota_scope)i;
	return 0;
}

int quota_action_parse(const char *s, enum quota_action *out)
{
	if (strcmp(s, "alert") == 0)
		*out = QUOTA_ALERT;
	else if (strcmp(s, "block") == 0)
		*out = QUOTA_BLOCK;
	else
		return -EINVAL;
	return 0;
}

/* ---- --quota specs ---- */

/* "30s", "10m", "2h", "1d" or plain seconds; 0 when not a duration. */
static uint64_t parse_duration(const char *v)
{
	char *end;
	unsigned long long n = strtoull(v, &end, 10);

	if (end == v)
		return 0;
	switch (*end) {
	case '\0':
	case 's':
		break;
	case 'm':
		n *= 60;
		break;
	case 'h':
		n *= 3600;
		break;
	case 'd':
		n *= 86400;
		break;
	default:
		return 0;
	}
	return end[0] && end[1] ? 0 : n;
}

int quota_rule_set(struct quota_rule *r, const char *k, const char *v)
{
	char *end;

	if (strcmp(k, "name") == 0) {
		snprintf(r->name, sizeof(r->name), "%s", v);
		return *v ? 0 : -EINVAL;
	}
	if (strcmp(k, "scope") == 0)
		return quota_scope_parse(v, &r->scope);
	if (strcmp(k, "metric") == 0)
		return quota_metric_parse(v, &r->metric);
	if (strcmp(k, "action") == 0)
		return quota_action_parse(v, &r->action);
	if (strcmp(k, "window") == 0) {
		r->window_s = parse_duration(v);
		return r->window_s ? 0 : -EINVAL;
	}
	if (strcmp(k, "limit") == 0) {
		r->limit = strtod(v[0] == '$' ? v + 1 : v, &end);
		return end != v && !*end && r->limit > 0 ? 0 : -EINVAL;
	}
	return -EINVAL;
}

int quota_rule_parse_spec(const char *spec, struct quota_rule *out,
			  char *why, size_t why_len)
{
	char buf[256], *save = NULL, *part;

	memset(out, 0, sizeof(*out));
	out->action = QUOTA_ALERT;
	if (strlen(spec) >= sizeof(buf)) {
		snprintf(why, why_len, "longer than %zu bytes", sizeof(buf));
		return -EINVAL;
	}
	strcpy(buf, spec);
	for (part = strtok_r(buf, ",", &save); part;
	     part = strtok_r(NULL, ",", &save)) {
		char *eq = strchr(part, '=');

		if (eq)
			*eq = '\0';
		if (!eq || quota_rule_set(out, part, eq + 1)) {
			snprintf(why, why_len, "bad '%s'", part);
			return -EINVAL;
		}
	}
	if (!out->name[0] || !out->window_s || out->limit <= 0) {
		snprintf(why, why_len, "needs name, limit and window");
		return -EINVAL;
	}
	return 0;
}

/* ---- the Helicone-RateLimit-Policy header ---- */

static int policy_param(struct quota_rule *r, const char *k, const char *v)
{
	if (strcmp(k, "w") == 0) {
		r->window_s = strtoull(v, NULL, 10);
		return r->window_s ? 0 : -EINVAL;
	}
	if (strcmp(k, "u") == 0) {
		if (strcmp(v, "request") == 0)
			r->metric = QUOTA_REQUESTS;
		else if (strcmp(v, "cents") == 0)
			r->metric = QUOTA_COST;
		else
			return -EINVAL;
		return 0;
	}
	if (strcmp(k, "s") == 0) {
		/* Only per-user segments name a scope llmtap keeps. */
		r->scope = strcmp(v, "user") == 0 ? QUOTA_USER_ID
						  : QUOTA_GLOBAL;
		return 0;
	}
	return -EINVAL;
}

int quota_policy_parse(const char *policy, struct quota_rule *out)
{
	char buf[QUOTA_POLICY_LEN], *save = NULL, *part;
	char *end;

	if (strlen(policy) >= sizeof(buf))
		return -EINVAL;
	memset(out, 0, sizeof(*out));
	strcpy(buf, policy);
	part = strtok_r(buf, ";", &save);
	out->limit = part ? strtod(part, &end) : 0;
	if (!part || end == part || out->limit <= 0)
		return -EINVAL;
	while ((part = strtok_r(NULL, ";", &save))) {
		char *eq = strchr(part, '=');

		while (*part == ' ')
			part++;
		if (!eq)
			return -EINVAL;
		*eq = '\0';
		if (policy_param(out, part, eq + 1))
			return -EINVAL;
	}
	if (!out->window_s)
		return -EINVAL;
	if (out->metric == QUOTA_COST)
		out->limit /= 100;	/* cents to USD */
	out->action = QUOTA_ALERT;
	snprintf(out->name, sizeof(out->name), "policy:%.50s", policy);
	return 0;
}

/* ---- reading records ---- */

static const char *rec_str(const json_t *rec, const char *obj,
			   const char *key)
{
	const json_t *o = obj ? json_object_get(rec, obj) : rec;

	return json_string_value(json_object_get(o, key));
}

static json_int_t rec_int(const json_t *rec, const char *obj,
			  const char *key)
{
	return json_integer_value(json_object_get(
		json_object_get(rec, obj), key));
}

/* The key a record counts under for this scope, and who to block;
 * false when the record has no such attribute. */
static bool record_key(const json_t *rec, enum quota_scope scope,
		       char *key, struct lt_blocked *who)
{
	const char *s = NULL;

	memset(who, 0, sizeof(*who));
	switch (scope) {
	case QUOTA_GLOBAL:
		s = "*";
		break;
	case QUOTA_UID:
		who->scope = LT_BLOCK_UID;
		who->uid = (__u32)rec_int(rec, "process", "uid");
		snprintf(key, QUOTA_KEY_LEN, "%u", who->uid);
		return json_object_get(json_object_get(rec, "process"), "uid");
	case QUOTA_PROCESS:
		s = rec_str(rec, "process", "comm");
		who->scope = LT_BLOCK_COMM;
		if (s)
			strncpy(who->comm, s, sizeof(who->comm) - 1);
		break;
	case QUOTA_CGROUP:
		s = rec_str(rec, "process", "container");
		who->scope = LT_BLOCK_CGROUP;
		break;
	case QUOTA_USER_ID:
		s = rec_str(rec, NULL, "user_id");
		break;
	case QUOTA_SESSION:
		s = rec_str(rec, "session", "id");
		break;
	}
	if (!s || !*s)
		return false;
	snprintf(key, QUOTA_KEY_LEN, "%s", s);
	return true;
}

static double record_usage(const json_t *rec, enum quota_metric m)
{
	switch (m) {
	case QUOTA_REQUESTS:
		return 1;
	case QUOTA_TOKENS:
		return (double)rec_int(rec, "usage", "total_tokens");
	case QUOTA_COST:
		return json_number_value(json_object_get(rec, "cost_usd"));
	}
	return 0;
}

/* ---- windows ---- */

static uint64_t slot_ns(const struct quota_rule *r)
{
	uint64_t w = r->window_s * NS_PER_S / QUOTA_SLOTS;

	return w < NS_PER_S ? NS_PER_S : w;
}

/* Slots that make up the window: QUOTA_SLOTS, or fewer for windows
 * shorter than QUOTA_SLOTS seconds, whose slots are a second long. */
static uint64_t window_slots(const struct quota_rule *r)
{
	uint64_t n = r->window_s * NS_PER_S / slot_ns(r);

	return n < 1 ? 1 : n > QUOTA_SLOTS ? QUOTA_SLOTS : n;
}

static double key_sum(const struct quota_rule *r, struct quota_key *k,
		      uint64_t now_ns)
{
	uint64_t now_slot = now_ns / slot_ns(r);
	uint64_t n = window_slots(r);
	double sum = 0;

	for (int i = 0; i < QUOTA_SLOTS; i++) {
		if (k->slot_id[i] + n > now_slot && k->slot_id[i] <= now_slot)
			sum += k->slots[i];
	}
	return sum;
}

static void key_add(const struct quota_rule *r, struct quota_key *k,
		    double v, uint64_t now_ns)
{
	uint64_t id = now_ns / slot_ns(r);
	int i = (int)(id % QUOTA_SLOTS);

	if (k->slot_id[i] != id) {
		k->slot_id[i] = id;
		k->slots[i] = 0;
	}
	k->slots[i] += v;
}

static unsigned hash_str(const char *s)
{
	unsigned h = 2166136261u;

	while (*s)
		h = (h ^ (unsigned char)*s++) * 16777619u;
	return h % QUOTA_HASH_BUCKETS;
}

static struct quota_key *key_get(struct quota_state *st, const char *key)
{
	unsigned h = hash_str(key);
	struct quota_key *k;

	for (k = st->buckets[h]; k; k = k->next) {
		if (strcmp(k->key, key) == 0)
			return k;
	}
	if (st->nkeys >= QUOTA_KEYS_MAX) {
		st->untracked++;
		return NULL;
	}
	k = calloc(1, sizeof(*k));
	if (!k)
		return NULL;
	snprintf(k->key, sizeof(k->key), "%s", key);
	k->next = st->buckets[h];
	st->buckets[h] = k;
	st->nkeys++;
	return k;
}

/* ---- enforcement ---- */

static bool blockable(const struct quota_state *st)
{
	enum quota_scope s = st->rule.scope;

	return st->rule.action == QUOTA_BLOCK &&
	       (s == QUOTA_UID || s == QUOTA_PROCESS || s == QUOTA_CGROUP);
}

static void emit(struct quota *q, const struct quota_state *st,
		 const struct quota_key *k, double usage, uint64_t now_ns,
		 bool over)
{
	const struct quota_rule *r = &st->rule;
	char ts[40], window[32];
	time_t secs = (time_t)(now_ns / NS_PER_S);
	struct tm tm;
	json_t *ev;

	gmtime_r(&secs, &tm);
	strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%SZ", &tm);
	snprintf(window, sizeof(window), "%llus",
		 (unsigned long long)r->window_s);
	ev = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:f, s:f, s:s, s:s,"
		       " s:s, s:b}",
		       "type", "enforcement", "ts", ts, "quota", r->name,
		       "scope", scope_names[r->scope], "key", k->key,
		       "metric", metric_names[r->metric], "usage", usage,
		       "limit", r->limit, "window", window,
		       "action", blockable(st) ? "block" : "alert",
		       "state", over ? "over" : "released",
		       "enforced", k->blocked);
	if (ev && q->hooks.emit)
		q->hooks.emit(q->hooks.ctx, ev);
	json_decref(ev);
}


static void go_over(struct quota *q, struct quota_state *st,
		    struct quota_key *k, double usage, uint64_t now_ns)
{
	k->over = true;
	if (blockable(st) && q->hooks.block &&
	    q->hooks.block(q->hooks.ctx, &k->who, true) == 0)
		k->blocked = true;
	log_info("quota %s: %s %s over its limit (%g of %g)", st->rule.name,
		 scope_names[st->rule.scope], k->key, usage, st->rule.limit);
	emit(q, st, k, usage, now_ns, true);
}

static void release(struct quota *q, struct quota_state *st,
		    struct quota_key *k, double usage, uint64_t now_ns)
{
	if (k->blocked && q->hooks.block)
		q->hooks.block(q->hooks.ctx, &k->who, false);
	emit(q, st, k, usage, now_ns, false);
	k->over = false;
	k->blocked = false;
	log_info("quota %s: %s %s released", st->rule.name,
		 scope_names[st->rule.scope], k->key);
}

/* ---- the engine ---- */

static struct quota_state *add_rule(struct quota *q,
				    const struct quota_rule *r)
{
	struct quota_state *st;

	if (q->n >= QUOTA_RULES_MAX)
		return NULL;
	st = calloc(1, sizeof(*st));
	if (!st)
		return NULL;
	st->rule = *r;
	q->rules[q->n++] = st;
	return st;
}

struct quota *quota_new(const struct quota_rule *rules, size_t n,
			const struct quota_hooks *hooks)
{
	struct quota *q = calloc(1, sizeof(*q));

	if (!q)
		return NULL;
	q->hooks = *hooks;
	for (size_t i = 0; i < n; i++) {
		if (!add_rule(q, &rules[i])) {
			quota_free(q);
			return NULL;
		}
	}
	return q;
}

static void free_state(struct quota *q, struct quota_state *st)
{
	for (int b = 0; b < QUOTA_HASH_BUCKETS; b++) {
		struct quota_key *k = st->buckets[b];

		while (k) {
			struct quota_key *next = k->next;

			if (k->blocked && q->hooks.block)
				q->hooks.block(q->hooks.ctx, &k->who, false);
			free(k);
			k = next;
		}
	}
	free(st);
}

void quota_free(struct quota *q)
{
	if (!q)
		return;
	for (size_t i = 0; i < q->n; i++)
		free_state(q, q->rules[i]);
	free(q);
}

/* ---- reloading ---- */

/* The same quota across a reload: its keys' history means the same. */
static bool same_quota(const struct quota_rule *a,
		       const struct quota_rule *b)
{
	return strcmp(a->name, b->name) == 0 && a->scope == b->scope &&
	       a->metric == b->metric && a->window_s == b->window_s;
}

/* Sets or lifts the block of every key over its limit. */
static void block_over_keys(struct quota *q, struct quota_state *st,
			    bool on)
{
	for (int b = 0; b < QUOTA_HASH_BUCKETS; b++) {
		for (struct quota_key *k = st->buckets[b]; k; k = k->next) {
			if (!k->over || k->blocked == on || !q->hooks.block)
				continue;
			if (on) {
				k->blocked = q->hooks.block(q->hooks.ctx,
							    &k->who, true) == 0;
				continue;
			}
			q->hooks.block(q->hooks.ctx, &k->who, false);
			k->blocked = false;
		}
	}
}

/* A kept quota takes the new limit and action; quota_tick releases
 * keys a higher limit frees, and the next call blocks past a lower. */
static void renew_rule(struct quota *q, struct quota_state *st,
		       const struct quota_rule *r)
{
	bool could = blockable(st);

	st->rule.limit = r->limit;
	st->rule.action = r->action;
	if (could == blockable(st))
		return;
	log_info("quota %s: keys over the limit are %s", st->rule.name,
		 blockable(st) ? "now blocked" : "no longer blocked");
	block_over_keys(q, st, blockable(st));
}

/* Takes the configured state matching r out of old[], or NULL. */
static struct quota_state *take_state(struct quota_state **old,
				      size_t n, const struct quota_rule *r)
{
	for (size_t i = 0; i < n; i++) {
		struct quota_state *st = old[i];

		if (st && !st->policy[0] && same_quota(&st->rule, r)) {
			old[i] = NULL;
			return st;
		}
	}
	return NULL;
}

int quota_reload(struct quota *q, const struct quota_rule *rules,
		 size_t n)
{
	struct quota_state *old[QUOTA_RULES_MAX];
	size_t nold = q->n;
	int err = 0;

	memcpy(old, q->rules, nold * sizeof(*old));
	q->n = 0;
	for (size_t i = 0; i < n; i++) {
		struct quota_state *st = take_state(old, nold, &rules[i]);

		if (st) {
			renew_rule(q, st, &rules[i]);
			q->rules[q->n++] = st;
		} else if (!add_rule(q, &rules[i])) {
			err = -ENOMEM;
		}
	}
	/* Declared policies stay while there is room; the rest goes,
	 * its blocks lifted. */
	for (size_t i = 0; i < nold; i++) {
		if (old[i] && old[i]->policy[0] && q->n < QUOTA_RULES_MAX)
			q->rules[q->n++] = old[i];
		else if (old[i])
			free_state(q, old[i]);
	}
	return err;
}

/* The quota a declared policy stands for, made on first sight. */
static struct quota_state *policy_state(struct quota *q, const char *p)
{
	struct quota_rule r;
	struct quota_state *st;

	for (size_t i = 0; i < q->n; i++) {
		if (strcmp(q->rules[i]->policy, p) == 0)
			return q->rules[i];
	}
	if (quota_policy_parse(p, &r))
		return NULL;
	st = add_rule(q, &r);
	if (st)
		snprintf(st->policy, sizeof(st->policy), "%s", p);
	return st;
}

static void count(struct quota *q, struct quota_state *st,
		  const json_t *rec, uint64_t now_ns)
{
	char key[QUOTA_KEY_LEN];
	struct lt_blocked who;
	struct quota_key *k;
	double sum;

	if (!record_key(rec, st->rule.scope, key, &who))
		return;
	k = key_get(st, key);
	if (!k)
		return;
	k->who = who;
	key_add(&st->rule, k, record_usage(rec, st->rule.metric), now_ns);
	sum = key_sum(&st->rule, k, now_ns);
	if (!k->over && sum >= st->rule.limit)
		go_over(q, st, k, sum, now_ns);
}

void quota_add(struct quota *q, const json_t *rec, uint64_t now_ns)
{
	const char *peer = rec_str(rec, "http", "peer");
	const char *policy = rec_str(rec, NULL, "rate_limit_policy");

	if (!q)
		return;
	if (peer && *peer && q->hooks.endpoint)
		q->hooks.endpoint(q->hooks.ctx, peer);
	if (policy)
		policy_state(q, policy);
	for (size_t i = 0; i < q->n; i++) {
		struct quota_state *st = q->rules[i];

		/* A declared policy counts only the calls that declare it. */
		if (st->policy[0] && (!policy || strcmp(policy, st->policy)))
			continue;
		count(q, st, rec, now_ns);
	}
}

void quota_tick(struct quota *q, uint64_t now_ns)
{
	if (!q)
		return;
	for (size_t i = 0; i < q->n; i++) {
		struct quota_state *st = q->rules[i];

		for (int b = 0; b < QUOTA_HASH_BUCKETS; b++) {
			for (struct quota_key *k = st->buckets[b]; k;
			     k = k->next) {
				double sum;

				if (!k->over)
					continue;
				sum = key_sum(&st->rule, k, now_ns);
				if (sum < st->rule.limit)
					release(q, st, k, sum, now_ns);
			}
		}
	}
}
