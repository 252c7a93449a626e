// SPDX-License-Identifier: MIT
/*
 * The store's queries. Each answers a new JSON value; its keys are the
 * SQL column aliases below, so the SQL is the reference for names.
 *
 * Every aggregate (a group, a user, a session, a total) has:
 *   requests, errors (calls with an "error"), error_rate (errors /
 *   requests), input_tokens, output_tokens, cached_input_tokens,
 *   cache_write_tokens, reasoning_tokens, total_tokens (sums; a call
 *   without usage adds 0), cost_usd (sum of the priced calls),
 *   unpriced (calls with usage but no price), avg_duration_ms,
 *   first_seen, last_seen (RFC 3339: first call's start, last call's
 *   end), first_ns, last_ns.
 *
 * store_query_by: {"by": BY, "groups": [{"key": K, AGGREGATE}...],
 *   "total": {AGGREGATE}}; groups by cost_usd, highest first. K is
 *   null for calls without the grouped field.
 * store_calls: {"calls": [RECORD...], "total": N, "limit", "offset"};
 *   RECORD is the llm_call line as written; newest first.
 * store_users: {"users": [{"user_id": K | "user": NAME, "uid": N,
 *   AGGREGATE, "active_days", "cost_per_active_day",
 *   "requests_per_active_day"}...]}; by cost, highest first. An active
 *   day is a UTC calendar day with a call.
 * store_sessions: {"sessions": [{"id", "name", "inferred", "user_id",
 *   "success" (no call failed), "duration_ms" (last end - first
 *   start), AGGREGATE}...]}; most recent first.
 * store_session: {"id", "name", "inferred", "success", "duration_ms",
 *   AGGREGATE, "tree": NODE, "truncated"}; NODE is {"name", "path",
 *   "requests", "cost_usd", "duration_ms" (the node's own calls),
 *   "total_requests", "total_cost_usd" (with its descendants),
 *   "calls": [{"ts", "model", "status", "error_type", "cost_usd",
 *   "duration_ms", "input_tokens", "output_tokens", "request_id"}...],
 *   "children": [NODE...]}. The root is path "/"; a call's
 *   Session-Path "/a/b" puts it in node b under node a.
 * store_cache: {"input_tokens", "cached_input_tokens", "hit_rate",
 *   "saved_usd", "by_model": [{"provider", "model", "input_tokens",
 *   "cached_input_tokens", "hit_rate", "saved_usd" (null: no price)}],
 *   "repeats": {"ttl_s", "requests", "distinct", "repeats",
 *   "repeat_rate", "saved_usd", "top": [{"request_hash", "model",
 *   "repeats", "cost_usd"}...]}}.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sqlite3.h>

#include "log.h"
#include "pricing.h"
#include "store.h"

#define SQ_SQL_MAX 4096
#define SQ_WHERE_MAX 1024
#define SQ_NS_PER_S 1000000000ll
#define SQ_NS_PER_MS 1e6
#define SQ_NS_PER_DAY (86400ll * SQ_NS_PER_S)
#define SQ_PER_MTOK 1e6
#define SQ_TS_LEN 40
/* Calls listed in one session's tree. */
#define SQ_SESSION_MAX_CALLS 10000
/* The most repeated requests store_cache lists. */
#define SQ_TOP_REPEATS 10
#define SQ_CACHE_TTL_S 3600

/* The aggregate every grouping shares; "c" is the calls table. */
#define SQ_AGG                                                          \
	"count(*) AS requests,"                                         \
	" sum(c.error_type IS NOT NULL) AS errors,"                     \
	" coalesce(sum(c.input_tokens), 0) AS input_tokens,"            \
	" coalesce(sum(c.output_tokens), 0) AS output_tokens,"          \
	" coalesce(sum(c.cached_tokens), 0) AS cached_input_tokens,"    \
	" coalesce(sum(c.cache_write_tokens), 0) AS cache_write_tokens," \
	" coalesce(sum(c.reasoning_tokens), 0) AS reasoning_tokens,"    \
	" coalesce(sum(c.total_tokens), 0) AS total_tokens,"            \
	" total(c.cost_usd) AS cost_usd,"                               \
	" sum(c.cost_usd IS NULL AND c.input_tokens IS NOT NULL)"       \
	" AS unpriced,"                                                 \
	" avg(c.duration_ms) AS avg_duration_ms,"                       \
	" min(c.ts_ns) AS first_ns, max(c.end_ns) AS last_ns"

/* What store_query_by may group by, and the column it means. */
static const struct {
	const char *by;
	const char *col;
} sq_groups[] = {
	{ "provider", "c.provider" },	{ "model", "c.model" },
	{ "process", "c.comm" },	{ "uid", "c.uid" },
	{ "user", "c.user" },		{ "user_id", "c.user_id" },
	{ "session", "c.session_id" },	{ "container", "c.container" },
};

#define SQ_PROPERTY "property:"

/* --- helpers -------------------------------------------------------- */

static void sq_error(struct store *s, const char *what)
{
	log_err("store: %s: %s", what, sqlite3_errmsg(store_db(s)));
}

static sqlite3_stmt *sq_prepare(struct store *s, const char *sql)
{
	sqlite3_stmt *st = NULL;

	if (!store_db(s)) {
		log_err("store: no database");
		return NULL;
	}
	if (sqlite3_prepare_v2(store_db(s), sql, -1, &st, NULL) !=
	    SQLITE_OK) {
		sq_error(s, "cannot prepare a query");
		sqlite3_finalize(st);
		return NULL;
	}
	return st;
}

static json_t *sq_ts(int64_t ns)
{
	time_t sec = (time_t)(ns / SQ_NS_PER_S);
	char buf[SQ_TS_LEN];
	struct tm tm;
	size_t n;

	if (!gmtime_r(&sec, &tm))
		return json_null();
	n = strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(buf + n, sizeof(buf) - n, ".%06lldZ",
		 (long long)(ns % SQ_NS_PER_S / 1000));
	return json_string(buf);
}

static json_t *sq_column(sqlite3_stmt *st, int i)
{
	switch (sqlite3_column_type(st, i)) {
	case SQLITE_INTEGER:
		return json_integer(sqlite3_column_int64(st, i));
	case SQLITE_FLOAT:
		return json_real(sqlite3_column_double(st, i));
	case SQLITE_TEXT:
		return json_string((const char *)sqlite3_column_text(st, i));
	}
	return json_null();
}

static double sq_num(const json_t *o, const char *key)
{
	return json_number_value(json_object_get(o, key));
}

/* What every aggregate derives from its sums. */
static void sq_derive(json_t *row)
{
	double req = sq_num(row, "requests");
	json_t *first = json_object_get(row, "first_ns");
	json_t *last = json_object_get(row, "last_ns");

	json_object_set_new(row, "error_rate",
			    json_real(req ? sq_num(row, "errors") / req : 0));
	json_object_set_new(row, "first_seen", json_is_integer(first) ?
				    sq_ts(json_integer_value(first)) :
				    json_null());
	json_object_set_new(row, "last_seen", json_is_integer(last) ?
				    sq_ts(json_integer_value(last)) :
				    json_null());
}

/* The current row as an object keyed by column alias. */
static json_t *sq_row(sqlite3_stmt *st)
{
	json_t *row = json_object();

	for (int i = 0; row && i < sqlite3_column_count(st); i++)
		json_object_set_new(row, sqlite3_column_name(st, i),
				    sq_column(st, i));
	if (row && json_object_get(row, "requests"))
		sq_derive(row);
	return row;
}

/* Every row, each passed through fix (may be NULL); NULL on error. */
static json_t *sq_rows(struct store *s, sqlite3_stmt *st,
		       void (*fix)(json_t *row))
{
	json_t *rows = json_array();
	int rc;

	while (rows && (rc = sqlite3_step(st)) == SQLITE_ROW) {
		json_t *row = sq_row(st);

		if (row && fix)
			fix(row);
		json_array_append_new(rows, row);
	}
	if (rows && rc != SQLITE_DONE) {
		sq_error(s, "query failed");
		json_decref(rows);
		return NULL;
	}
	return rows;
}

/* --- filters -------------------------------------------------------- */

/* Appends " AND clause" when on. */
static size_t sq_and(char *buf, size_t n, size_t len, bool on,
		     const char *clause)
{
	if (!on || n >= len)
		return n;
	return n + (size_t)snprintf(buf + n, len - n, " AND %s", clause);
}

static void sq_where(const struct store_filter *f, char *buf, size_t len)
{
	size_t n = (size_t)snprintf(buf, len, " WHERE 1");

	if (!f)
		return;
	n = sq_and(buf, n, len, f->since_ns, "c.ts_ns >= :since");
	n = sq_and(buf, n, len, f->until_ns, "c.ts_ns < :until");
	n = sq_and(buf, n, len, f->user_id, "c.user_id = :uid_s");
	n = sq_and(buf, n, len, f->session_id, "c.session_id = :session");
	n = sq_and(buf, n, len, f->model,
		   "(c.model = :model OR c.response_model = :model)");
	n = sq_and(buf, n, len, f->provider, "c.provider = :provider");
	n = sq_and(buf, n, len, f->process,
		   "(c.comm = :process OR c.exe = :process)");
	sq_and(buf, n, len, f->uid >= 0, "c.uid = :uid");
}

static void sq_bind_text(sqlite3_stmt *st, const char *name, const char *v)
{
	int i = sqlite3_bind_parameter_index(st, name);

	if (i && v)
		sqlite3_bind_text(st, i, v, -1, SQLITE_TRANSIENT);
}

static void sq_bind_int(sqlite3_stmt *st, const char *name, int64_t v)
{
	int i = sqlite3_bind_parameter_index(st, name);

	if (i)
		sqlite3_bind_int64(st, i, v);
}

static void sq_bind_filter(sqlite3_stmt *st, const struct store_filter *f)
{
	if (!f)
		return;
	sq_bind_int(st, ":since", (int64_t)f->since_ns);
	sq_bind_int(st, ":until", (int64_t)f->until_ns);
	sq_bind_text(st, ":uid_s", f->user_id);
	sq_bind_text(st, ":session", f->session_id);
	sq_bind_text(st, ":model", f->model);
	sq_bind_text(st, ":provider", f->provider);
	sq_bind_text(st, ":process", f->process);
	sq_bind_int(st, ":uid", f->uid);
}

/* Prepares fmt, whose "%s" stands for the WHERE clause, under f. */
static sqlite3_stmt *sq_filtered(struct store *s, const char *fmt,
				 const struct store_filter *f)
{
	char where[SQ_WHERE_MAX], sql[SQ_SQL_MAX];
	const char *mark = strstr(fmt, "%s");
	sqlite3_stmt *st;

	if (!mark)
		return NULL;
	sq_where(f, where, sizeof(where));
	snprintf(sql, sizeof(sql), "%.*s%s%s", (int)(mark - fmt), fmt, where,
		 mark + 2);
	st = sq_prepare(s, sql);
	if (st)
		sq_bind_filter(st, f);
	return st;
}

/* Runs a filtered query to an array of rows. */
static json_t *sq_select(struct store *s, const char *fmt,
			 const struct store_filter *f, int64_t limit,
			 void (*fix)(json_t *row))
{
	sqlite3_stmt *st = sq_filtered(s, fmt, f);
	json_t *rows;

	if (!st)
		return NULL;
	sq_bind_int(st, ":limit", limit > 0 ? limit : -1);
	rows = sq_rows(s, st, fix);
	sqlite3_finalize(st);
	return rows;
}

/* --- by group ------------------------------------------------------- */

static const char *sq_group_col(const char *by)
{
	for (size_t i = 0; i < sizeof(sq_groups) / sizeof(sq_groups[0]); i++)
		if (!strcmp(sq_groups[i].by, by))
			return sq_groups[i].col;
	if (!strncmp(by, SQ_PROPERTY, strlen(SQ_PROPERTY)) &&
	    by[strlen(SQ_PROPERTY)])
		return "p.value";
	return NULL;
}

static json_t *sq_groups_of(struct store *s, const struct store_filter *f,
			    const char *by, const char *col, int top)
{
	char fmt[SQ_SQL_MAX];
	sqlite3_stmt *st;
	json_t *rows;

	snprintf(fmt, sizeof(fmt),
		 "SELECT %s AS key, " SQ_AGG " FROM calls c"
		 " LEFT JOIN properties p ON p.call_id = c.id"
		 " AND p.name = :prop %%s GROUP BY %s"
		 " ORDER BY cost_usd DESC, requests DESC, key LIMIT :limit",
		 col, col);
	st = sq_filtered(s, fmt, f);
	if (!st)
		return NULL;
	sq_bind_text(st, ":prop", strchr(by, ':') ? strchr(by, ':') + 1 :
						      "");
	sq_bind_int(st, ":limit", top > 0 ? top : -1);
	rows = sq_rows(s, st, NULL);
	sqlite3_finalize(st);
	return rows;
}

/* The aggregate of every call under f, one object. */
static json_t *sq_total(struct store *s, const struct store_filter *f)
{
	json_t *rows = sq_select(s, "SELECT " SQ_AGG " FROM calls c %s", f,
				 0, NULL);
	json_t *total = json_incref(json_array_get(rows, 0));

	json_decref(rows);
	return total;
}

json_t *store_query_by(struct store *s, const struct store_filter *f,
		       const char *by, int top)
{
	const char *col = by ? sq_group_col(by) : NULL;
	json_t *groups, *total;

	if (!col) {
		log_err("store: cannot group by '%s'", by ? by : "(null)");
		return NULL;
	}
	groups = sq_groups_of(s, f, by, col, top);
	total = groups ? sq_total(s, f) : NULL;
	if (!total) {
		json_decref(groups);
		return NULL;
	}
	return json_pack("{s:s, s:o, s:o}", "by", by, "groups", groups,
			 "total", total);
}

/* --- calls ---------------------------------------------------------- */

static json_t *sq_records(struct store *s, sqlite3_stmt *st)
{
	json_t *out = json_array();
	int rc;

	while (out && (rc = sqlite3_step(st)) == SQLITE_ROW) {
		const char *text = (const char *)sqlite3_column_text(st, 0);
		json_t *rec = text ? json_loads(text, 0, NULL) : NULL;

		json_array_append_new(out, rec ? rec : json_null());
	}
	if (out && rc != SQLITE_DONE) {
		sq_error(s, "query failed");
		json_decref(out);
		return NULL;
	}
	return out;
}

json_t *store_calls(struct store *s, const struct store_filter *f,
		    int limit, int offset)
{
	sqlite3_stmt *st;
	json_t *calls, *total, *out;

	st = sq_filtered(s, "SELECT c.record FROM calls c %s ORDER BY "
			 "c.ts_ns DESC, c.id DESC LIMIT :limit OFFSET :off",
			 f);
	if (!st)
		return NULL;
	sq_bind_int(st, ":limit", limit > 0 ? limit : -1);
	sq_bind_int(st, ":off", offset > 0 ? offset : 0);
	calls = sq_records(s, st);
	sqlite3_finalize(st);
	total = calls ? sq_total(s, f) : NULL;
	if (!total) {
		json_decref(calls);
		return NULL;
	}
	out = json_pack("{s:o, s:O, s:i, s:i}", "calls", calls, "total",
			json_object_get(total, "requests"), "limit", limit,
			"offset", offset);
	json_decref(total);
	return out;
}

/* --- users ---------------------------------------------------------- */

static void sq_per_day(json_t *row)
{
	double days = sq_num(row, "active_days");

	json_object_set_new(row, "cost_per_active_day",
			    json_real(days ? sq_num(row, "cost_usd") / days :
					     0));
	json_object_set_new(row, "requests_per_active_day",
			    json_real(days ? sq_num(row, "requests") / days :
					     0));
}

json_t *store_users(struct store *s, const struct store_filter *f,
		    bool os_users, int top)
{
	static const char by_id[] =
		"SELECT c.user_id AS user_id, " SQ_AGG ","
		" count(DISTINCT c.ts_ns / 86400000000000) AS active_days"
		" FROM calls c %s GROUP BY c.user_id"
		" ORDER BY cost_usd DESC, requests DESC LIMIT :limit";
	static const char by_os[] =
		"SELECT max(c.user) AS user, c.uid AS uid, " SQ_AGG ","
		" count(DISTINCT c.ts_ns / 86400000000000) AS active_days"
		" FROM calls c %s GROUP BY c.uid"
		" ORDER BY cost_usd DESC, requests DESC LIMIT :limit";
	json_t *rows = sq_select(s, os_users ? by_os : by_id, f, top,
				 sq_per_day);

	return rows ? json_pack("{s:o}", "users", rows) : NULL;
}

/* --- sessions ------------------------------------------------------- */

#define SQ_SESSION_COLS                                                 \
	"c.session_id AS id, max(c.session_name) AS name,"              \
	" max(c.session_inferred) = 1 AS inferred,"                     \
	" max(c.user_id) AS user_id, " SQ_AGG

static void sq_session_fix(json_t *row)
{
	json_t *inf = json_object_get(row, "inferred");
	/* In integers: ns since the epoch do not fit a double's 53 bits. */
	json_int_t span = json_integer_value(json_object_get(row,
							     "last_ns")) -
			  json_integer_value(json_object_get(row,
							     "first_ns"));

	json_object_set_new(row, "inferred",
			    json_boolean(json_integer_value(inf) == 1));
	json_object_set_new(row, "success",
			    json_boolean(sq_num(row, "errors") == 0));
	json_object_set_new(row, "duration_ms",
			    json_real((double)span / SQ_NS_PER_MS));
}

json_t *store_sessions(struct store *s, const struct store_filter *f,
		       int top)
{
	json_t *rows = sq_select(s,
				 "SELECT " SQ_SESSION_COLS " FROM calls c %s"
				 " AND c.session_id IS NOT NULL"
				 " GROUP BY c.session_id"
				 " ORDER BY first_ns DESC LIMIT :limit",
				 f, top, sq_session_fix);

	return rows ? json_pack("{s:o}", "sessions", rows) : NULL;
}

static json_t *sq_node_new(const char *name, const char *path)
{
	return json_pack("{s:s, s:s, s:i, s:f, s:f, s:i, s:f, s:[], s:[]}",
			 "name", name, "path", path, "requests", 0,
			 "cost_usd", 0.0, "duration_ms", 0.0,
			 "total_requests", 0, "total_cost_usd", 0.0,
			 "calls", "children");
}

static void sq_node_add(json_t *node, const char *key, double v)
{
	json_t *cur = json_object_get(node, key);

	if (json_is_integer(cur))
		json_object_set_new(node, key, json_integer(
					json_integer_value(cur) + (int)v));
	else
		json_object_set_new(node, key,
				    json_real(json_number_value(cur) + v));
}

/* The child of node named name, made if missing. */
static json_t *sq_node_child(json_t *node, const char *name, size_t len)
{
	json_t *kids = json_object_get(node, "children");
	const char *parent = json_string_value(json_object_get(node, "path"));
	json_t *kid;
	size_t i;
	char *path;

	json_array_foreach(kids, i, kid) {
		const char *n = json_string_value(json_object_get(kid,
								  "name"));

		if (strlen(n) == len && !strncmp(n, name, len))
			return kid;
	}
	if (asprintf(&path, "%s%s%.*s", parent, strcmp(parent, "/") ? "/" :
			     "", (int)len, name) < 0)
		return node;
	kid = sq_node_new("", path);
	json_object_set_new(kid, "name", json_stringn(name, len));
	free(path);
	json_array_append_new(kids, kid);
	return kid;
}

/* Walks path's components from the root, adding a call's cost to each
 * node's total on the way; returns the node the call belongs to. */
static json_t *sq_node_walk(json_t *root, const char *path, double cost)
{
	json_t *node = root;

	sq_node_add(node, "total_requests", 1);
	sq_node_add(node, "total_cost_usd", cost);
	while (path && *path) {
		size_t len = strcspn(path, "/");

		if (len) {
			node = sq_node_child(node, path, len);
			sq_node_add(node, "total_requests", 1);
			sq_node_add(node, "total_cost_usd", cost);
		}
		path += len + (path[len] == '/');
	}
	return node;
}

static void sq_tree_add(json_t *root, sqlite3_stmt *st)
{
	json_t *call = sq_row(st);
	const char *path = (const char *)sqlite3_column_text(st, 0);
	double cost = sq_num(call, "cost_usd");
	json_t *node = sq_node_walk(root, path, cost);

	json_object_set_new(call, "ts", sq_ts(sqlite3_column_int64(st, 1)));
	json_object_del(call, "path");
	sq_node_add(node, "requests", 1);
	sq_node_add(node, "cost_usd", cost);
	sq_node_add(node, "duration_ms", sq_num(call, "duration_ms"));
	json_array_append_new(json_object_get(node, "calls"), call);
}

/* The tree of a session's calls; sets *cut when there were more. */
static json_t *sq_tree(struct store *s, const char *id, bool *cut)
{
	sqlite3_stmt *st = sq_prepare(s,
		"SELECT session_path AS path, ts_ns AS ts, model, status,"
		" error_type, cost_usd, duration_ms, input_tokens,"
		" output_tokens, request_id FROM calls WHERE session_id = ?"
		" ORDER BY ts_ns, id LIMIT ?");
	json_t *root = sq_node_new("", "/");
	int n = 0, rc;

	if (!st || !root)
		goto fail;
	sqlite3_bind_text(st, 1, id, -1, SQLITE_TRANSIENT);
	sqlite3_bind_int(st, 2, SQ_SESSION_MAX_CALLS + 1);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW &&
	       n++ < SQ_SESSION_MAX_CALLS)
		sq_tree_add(root, st);
	*cut = rc == SQLITE_ROW;
	if (rc != SQLITE_DONE && rc != SQLITE_ROW) {
		sq_error(s, "session query failed");
		goto fail;
	}
	sqlite3_finalize(st);
	return root;
fail:
	sqlite3_finalize(st);
	json_decref(root);
	return NULL;
}

json_t *store_session(struct store *s, const char *id)
{
	struct store_filter f = { .session_id = id, .uid = -1 };
	json_t *rows, *sess, *tree;
	bool cut = false;

	rows = sq_select(s, "SELECT " SQ_SESSION_COLS " FROM calls c %s"
			 " GROUP BY c.session_id", &f, 0, sq_session_fix);
	sess = json_incref(json_array_get(rows, 0));
	json_decref(rows);
	if (!sess)
		return NULL;
	tree = sq_tree(s, id, &cut);
	if (!tree) {
		json_decref(sess);
		return NULL;
	}
	json_object_set_new(sess, "tree", tree);
	json_object_set_new(sess, "truncated", json_boolean(cut));
	return sess;
}

/* --- cache ---------------------------------------------------------- */

/* The price a call was charged at, as calls.c picks it. */
static const struct price *sq_price(const struct pricing *p,
				    const json_t *row)
{
	const char *prov = json_string_value(json_object_get(row,
							     "provider"));
	const char *rm = json_string_value(json_object_get(row,
							   "response_model"));
	const char *m = json_string_value(json_object_get(row, "model"));
	const struct price *pr = NULL;

	if (!prov)
		return NULL;
	if (rm)
		pr = pricing_lookup(p, prov, rm);
	if (!pr && m)
		pr = pricing_lookup(p, prov, m);
	return pr;
}

/* Tokens read from the prompt cache cost cached_input, not input. */
static json_t *sq_prompt_cache(struct store *s,
			       const struct store_filter *f,
			       const struct pricing *p, double *saved)
{
	json_t *rows = sq_select(s,
		"SELECT c.provider AS provider, c.model AS model,"
		" c.response_model AS response_model,"
		" coalesce(sum(c.input_tokens), 0) AS input_tokens,"
		" coalesce(sum(c.cached_tokens), 0) AS cached_input_tokens"
		" FROM calls c %s AND c.input_tokens IS NOT NULL"
		" GROUP BY c.provider, c.model, c.response_model"
		" ORDER BY cached_input_tokens DESC", f, 0, NULL);
	json_t *row;
	size_t i;

	json_array_foreach(rows, i, row) {
		const struct price *pr = sq_price(p, row);
		double cached = sq_num(row, "cached_input_tokens");
		double in = sq_num(row, "input_tokens");
		double usd = pr ? cached * (pr->base.input -
					    pr->base.cached_input) /
					  SQ_PER_MTOK : 0;

		json_object_set_new(row, "hit_rate",
				    json_real(in ? cached / in : 0));
		json_object_set_new(row, "saved_usd",
				    pr ? json_real(usd) : json_null());
		*saved += usd;
	}
	return rows;
}

struct sq_repeats {
	uint64_t ttl_ns;
	int64_t requests, distinct, repeats;
	double saved;
	/* The current request_hash while walking the rows. */
	char hash[80];
	char model[256];
	int64_t fill_ns;	/* when the cache would have been filled */
	int64_t hits;
	double hit_cost;
	json_t *top;	/* at most SQ_TOP_REPEATS, most repeats first */
};

/* Keeps the finished hash in the top list if it ranks. */
static void sq_repeats_rank(struct sq_repeats *r)
{
	size_t n = json_array_size(r->top), at = n;
	json_t *e;

	if (!r->hits)
		return;
	while (at > 0 && sq_num(json_array_get(r->top, at - 1), "repeats") <
				 (double)r->hits)
		at--;
	if (at >= SQ_TOP_REPEATS)
		return;
	e = json_pack("{s:s, s:s, s:I, s:f}", "request_hash", r->hash,
		      "model", r->model, "repeats", (json_int_t)r->hits,
		      "cost_usd", r->hit_cost);
	json_array_insert_new(r->top, at, e);
	if (json_array_size(r->top) > SQ_TOP_REPEATS)
		json_array_remove(r->top, SQ_TOP_REPEATS);
}

/* One successful call, in (request_hash, ts) order. A response cache
 * filled by a call answers the same request until ttl has passed. */
static void sq_repeats_step(struct sq_repeats *r, sqlite3_stmt *st)
{
	const char *hash = (const char *)sqlite3_column_text(st, 0);
	const char *model = (const char *)sqlite3_column_text(st, 3);
	int64_t ts = sqlite3_column_int64(st, 1);
	double cost = sqlite3_column_double(st, 2);

	r->requests++;
	if (strcmp(hash, r->hash)) {
		sq_repeats_rank(r);
		snprintf(r->hash, sizeof(r->hash), "%s", hash);
		snprintf(r->model, sizeof(r->model), "%s", model ? model : "");
		r->distinct++;
		r->hits = 0;
		r->hit_cost = 0;
		r->fill_ns = ts;
		return;
	}
	if ((uint64_t)(ts - r->fill_ns) >= r->ttl_ns) {
		r->fill_ns = ts;	/* expired: this call fills it again */
		return;
	}
	r->repeats++;
	r->hits++;
	r->hit_cost += cost;
	r->saved += cost;
}

static json_t *sq_exact_repeats(struct store *s,
				const struct store_filter *f, uint64_t ttl_s)
{
	struct sq_repeats r = { .ttl_ns = ttl_s * SQ_NS_PER_S };
	sqlite3_stmt *st = sq_filtered(s,
		"SELECT c.request_hash, c.ts_ns, coalesce(c.cost_usd, 0),"
		" c.model FROM calls c %s AND c.request_hash IS NOT NULL"
		" AND c.error_type IS NULL AND NOT c.incomplete"
		" ORDER BY c.request_hash, c.ts_ns", f);
	int rc;

	r.top = json_array();
	if (!st || !r.top)
		goto fail;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW)
		sq_repeats_step(&r, st);
	if (rc != SQLITE_DONE) {
		sq_error(s, "cache query failed");
		goto fail;
	}
	sq_repeats_rank(&r);
	sqlite3_finalize(st);
	return json_pack("{s:I, s:I, s:I, s:I, s:f, s:f, s:o}",
			 "ttl_s", (json_int_t)ttl_s, "requests",
			 (json_int_t)r.requests, "distinct",
			 (json_int_t)r.distinct, "repeats",
			 (json_int_t)r.repeats, "repeat_rate",
			 r.requests ? (double)r.repeats / r.requests : 0.0,
			 "saved_usd", r.saved, "top", r.top);
fail:
	sqlite3_finalize(st);
	json_decref(r.top);
	return NULL;
}

static json_t *sq_cache_totals(json_t *models, double saved)
{
	double in = 0, cached = 0;
	json_t *row;
	size_t i;

	json_array_foreach(models, i, row) {
		in += sq_num(row, "input_tokens");
		cached += sq_num(row, "cached_input_tokens");
		json_object_del(row, "response_model");
	}
	return json_pack("{s:I, s:I, s:f, s:f, s:o}", "input_tokens",
			 (json_int_t)in, "cached_input_tokens",
			 (json_int_t)cached, "hit_rate",
			 in ? cached / in : 0.0, "saved_usd", saved,
			 "by_model", models);
}

json_t *store_cache_ttl(struct store *s, const struct store_filter *f,
			uint64_t ttl_s)
{
	struct pricing *p = pricing_load(store_pricing_path(s));
	json_t *models = NULL, *out = NULL, *rep;
	double saved = 0;

	if (p)
		models = sq_prompt_cache(s, f, p, &saved);
	pricing_free(p);
	if (!models)
		return NULL;
	out = sq_cache_totals(models, saved);
	rep = out ? sq_exact_repeats(s, f, ttl_s) : NULL;
	if (!rep) {
		json_decref(out);
		return NULL;
	}
	json_object_set_new(out, "repeats", rep);
	return out;
}

json_t *store_cache(struct store *s, const struct store_filter *f)
{
	return store_cache_ttl(s, f, SQ_CACHE_TTL_S);
}

/* --- events --------------------------------------------------------- */

/* True when the database has the events table (schema 2 and later;
 * a read-only handle on an older file has none). */
static bool store_has_events(sqlite3 *db)
{
	sqlite3_stmt *st = NULL;
	bool found = false;

	if (sqlite3_prepare_v2(db, "SELECT 1 FROM sqlite_master WHERE "
			       "type = 'table' AND name = 'events'", -1,
			       &st, NULL) == SQLITE_OK)
		found = sqlite3_step(st) == SQLITE_ROW;
	sqlite3_finalize(st);
	return found;
}

static json_t *store_events_rows(sqlite3_stmt *st)
{
	json_t *list = json_array();

	while (list && sqlite3_step(st) == SQLITE_ROW) {
		const char *text = (const char *)sqlite3_column_text(st, 0);
		json_t *ev = text ? json_loads(text, 0, NULL) : NULL;

		if (ev)
			json_array_append_new(list, ev);
	}
	return list;
}

json_t *store_events(struct store *s, const char *type, int limit)
{
	static const char sql[] = "SELECT record FROM events WHERE type = ?"
				  " ORDER BY ts_ns DESC, id DESC LIMIT ?";
	sqlite3 *db = store_db(s);
	sqlite3_stmt *st = NULL;
	json_t *list;

	if (!db)
		return NULL;
	if (!store_has_events(db))
		return json_pack("{s:[]}", "events");
	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK) {
		log_err("store: events: %s", sqlite3_errmsg(db));
		return NULL;
	}
	sqlite3_bind_text(st, 1, type, -1, SQLITE_TRANSIENT);
	sqlite3_bind_int(st, 2, limit > 0 ? limit : 100);
	list = store_events_rows(st);
	sqlite3_finalize(st);
	return list ? json_pack("{s:o}", "events", list) : NULL;
}
