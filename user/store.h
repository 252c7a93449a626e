/* SPDX-License-Identifier: MIT */
/*
 * The call store: every llm_call record in SQLite, kept across
 * restarts, and the queries that `llmtap query`, `calls`, `session` and
 * the HTTP API answer from it. Records are the JSON objects calls.c
 * builds (see README.md, 'Output').
 */
#ifndef LLMTAP_STORE_H
#define LLMTAP_STORE_H

#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>

#define STORE_DEFAULT_PATH "/var/lib/llmtap/llmtap.db"

struct store;

struct store_opts {
	const char *path;	/* NULL: STORE_DEFAULT_PATH */
	bool read_only;	/* the query commands */
	uint64_t retain_seconds;	/* 0: keep forever */
	uint64_t max_bytes;	/* 0: no size limit */
	const char *pricing_path;	/* for store_cache; NULL: shipped */
};

/* Which calls a query looks at. Zero/NULL fields do not filter. */
struct store_filter {
	uint64_t since_ns;	/* ts >= since_ns (ns since the epoch) */
	uint64_t until_ns;	/* ts < until_ns; 0: now */
	const char *user_id;
	const char *session_id;
	const char *model;
	const char *provider;
	const char *process;	/* comm or exe */
	int64_t uid;	/* -1: any */
};

/* NULL, after logging why, when the file cannot be opened or made. */
struct store *store_open(const struct store_opts *o);
void store_close(struct store *s);	/* flushes first; accepts NULL */

/* Queues a record; it is committed by the next store_flush. */
int store_add(struct store *s, const json_t *rec);
/* Stores an alert or enforcement line ({"type": ...}) at once: they
 * are rare, and a restart must not lose them. */
int store_add_event(struct store *s, const json_t *ev);
/* The newest events of a type ("alert", "enforcement"), newest first:
 * {"events": [EVENT...]}; an empty list on a database without them. */
json_t *store_events(struct store *s, const char *type, int limit);

/* Commits what is queued in one transaction, then applies retention.
 * The daemon calls it every second: kill -9 loses at most that. */
int store_flush(struct store *s);

/*
 * Queries. Each returns a new JSON value the caller json_decref()s, or
 * NULL after logging an error. The shapes are documented in store.c
 * and the README; the CLI prints them as tables, the API as they are.
 */
/* Aggregates grouped by "provider", "model", "process", "uid", "user",
 * "user_id", "session", "container" or "property:NAME"; top N by cost
 * (0: all). */
json_t *store_query_by(struct store *s, const struct store_filter *f,
		       const char *by, int top);
/* Calls, newest first, with paging. */
json_t *store_calls(struct store *s, const struct store_filter *f,
		    int limit, int offset);
/* Per user_id (or per OS user when os_users): requests, cost, tokens,
 * error rate, first and last seen, average cost per active day. */
json_t *store_users(struct store *s, const struct store_filter *f,
		    bool os_users, int top);
/* Sessions (declared and inferred) with their totals. */
json_t *store_sessions(struct store *s, const struct store_filter *f,
		       int top);
/* One session: totals and its tree of Session-Path steps; NULL if
 * unknown. */
json_t *store_session(struct store *s, const char *id);
/* Prompt-cache hit rate and savings; exact repeat requests. */
json_t *store_cache(struct store *s, const struct store_filter *f);
/* The same, counting a repeat only within ttl_s seconds of the call
 * that would have filled the response cache (store_cache: 1 hour). */
json_t *store_cache_ttl(struct store *s, const struct store_filter *f,
			uint64_t ttl_s);

/* Records store_add could not queue (queue full, bad record). */
uint64_t store_dropped(const struct store *s);

/* Shared by store.c and store_query.c only. */
struct sqlite3;
struct sqlite3 *store_db(struct store *s);
const char *store_pricing_path(const struct store *s);
/* A record's "ts" (RFC 3339, UTC) to ns since the epoch; -EINVAL. */
int store_parse_ts(const char *ts, uint64_t *out);

#endif /* LLMTAP_STORE_H */
