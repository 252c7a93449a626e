// SPDX-License-Identifier: MIT
/*
 * llmtap query, calls, sessions, session, users and cache: read the
 * call store (read-only, whether or not the daemon runs) and print a
 * table for people or, with --json, the store's JSON for programs.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"
#include "log.h"
#include "store.h"

#define Q_NS_PER_S 1000000000ull
#define Q_CALLS_LIMIT 20	/* calls listed without --limit */
#define Q_CELL_MAX 128	/* a table cell is cut here */
#define Q_TABLE_COLS 12
#define Q_CACHE_TTL_S 3600
#define Q_TIME_LEN 20	/* "2026-12-03 16:42:14" */

/* The options, and which command takes which. */
enum {
	Q_DB = 1 << 0,
	Q_SINCE = 1 << 1,
	Q_BY = 1 << 2,
	Q_TOP = 1 << 3,
	Q_JSON = 1 << 4,
	Q_USER = 1 << 5,
	Q_SESSION = 1 << 6,
	Q_MODEL = 1 << 7,
	Q_LIMIT = 1 << 8,
	Q_OS = 1 << 9,
	Q_TTL = 1 << 10,
	Q_OFFSET = 1 << 11,
};

static const struct option q_opts[] = {
	{ "db", required_argument, NULL, Q_DB },
	{ "since", required_argument, NULL, Q_SINCE },
	{ "by", required_argument, NULL, Q_BY },
	{ "top", required_argument, NULL, Q_TOP },
	{ "json", no_argument, NULL, Q_JSON },
	{ "user", required_argument, NULL, Q_USER },
	{ "session", required_argument, NULL, Q_SESSION },
	{ "model", required_argument, NULL, Q_MODEL },
	{ "limit", required_argument, NULL, Q_LIMIT },
	{ "offset", required_argument, NULL, Q_OFFSET },
	{ "os", no_argument, NULL, Q_OS },
	{ "ttl", required_argument, NULL, Q_TTL },
	{ "help", no_argument, NULL, 'h' },
	{ 0 },
};

#define Q_USAGE_DB                                                       \
	"      --db FILE       the store (default " STORE_DEFAULT_PATH ")\n"
#define Q_USAGE_SINCE                                                    \
	"      --since D       only the last D: 30s, 10m, 1h, 7d, 2w\n"
#define Q_USAGE_JSON                                                     \
	"      --json          the store's JSON, for programs (README.md,\n" \
	"                      'Store and queries')\n"                      \
	"  -h, --help          this text\n"

struct q_args {
	const char *db;
	struct store_filter f;
	const char *by;
	const char *id;	/* llmtap session ID */
	int top;
	int limit;
	int offset;
	uint64_t ttl_s;
	bool json;
	bool os;
};

struct q_cmd {
	const char *name;
	unsigned opts;	/* Q_* it takes */
	int npos;	/* positional arguments */
	const char *usage;
	int (*run)(struct store *s, const struct q_args *a);
};

/* --- a table for people --------------------------------------------- */

struct q_table {
	size_t ncols;
	const char *head[Q_TABLE_COLS];
	bool right[Q_TABLE_COLS];	/* numbers align right */
	char (*cells)[Q_TABLE_COLS][Q_CELL_MAX];
	size_t nrows;
	size_t cap;
};

/* Columns named "TITLE" align left, ">TITLE" right. */
static void q_table_init(struct q_table *t, const char *const *cols)
{
	memset(t, 0, sizeof(*t));
	for (; cols[t->ncols] && t->ncols < Q_TABLE_COLS; t->ncols++) {
		const char *c = cols[t->ncols];

		t->right[t->ncols] = c[0] == '>';
		t->head[t->ncols] = c + (c[0] == '>');
	}
}

static char *q_table_row(struct q_table *t)
{
	if (t->nrows == t->cap) {
		size_t cap = t->cap ? 2 * t->cap : 16;
		void *v = realloc(t->cells, cap * sizeof(*t->cells));

		if (!v)
			return NULL;
		t->cells = v;
		t->cap = cap;
	}
	memset(t->cells[t->nrows], 0, sizeof(*t->cells));
	return t->cells[t->nrows++][0];
}

__attribute__((format(printf, 3, 4)))
static void q_cell(struct q_table *t, size_t col, const char *fmt, ...)
{
	va_list ap;

	if (!t->nrows || col >= t->ncols)
		return;
	va_start(ap, fmt);
	vsnprintf(t->cells[t->nrows - 1][col], Q_CELL_MAX, fmt, ap);
	va_end(ap);
}

static void q_table_print(struct q_table *t)
{
	size_t w[Q_TABLE_COLS] = { 0 };

	for (size_t c = 0; c < t->ncols; c++) {
		w[c] = strlen(t->head[c]);
		for (size_t r = 0; r < t->nrows; r++)
			if (strlen(t->cells[r][c]) > w[c])
				w[c] = strlen(t->cells[r][c]);
	}
	for (size_t r = 0; r <= t->nrows; r++) {
		for (size_t c = 0; c < t->ncols; c++) {
			const char *v = r ? t->cells[r - 1][c] : t->head[c];
			bool last = c + 1 == t->ncols;
			int width = (int)w[c];

			/* No padding after the last column. */
			if (last && !t->right[c])
				width = 0;
			printf(last ? "%*s" : "%*s  ",
			       t->right[c] ? width : -width, v);
		}
		putchar('\n');
	}
	free(t->cells);
	t->cells = NULL;
}

/* --- values --------------------------------------------------------- */

static const char *q_str(const json_t *o, const char *key, const char *dflt)
{
	const char *s = json_string_value(json_object_get(o, key));

	return s ? s : dflt;
}

static long long q_int(const json_t *o, const char *key)
{
	return (long long)json_number_value(json_object_get(o, key));
}

static double q_num(const json_t *o, const char *key)
{
	return json_number_value(json_object_get(o, key));
}

/* "2026-12-03T16:42:14.018161Z" as "2026-12-03 16:42:14". */
static const char *q_time(const json_t *o, const char *key, char *buf)
{
	const char *ts = q_str(o, key, "-");

	snprintf(buf, Q_TIME_LEN, "%s", ts);
	if (strlen(buf) > 10 && buf[10] == 'T')
		buf[10] = ' ';
	return buf;
}

static void q_cost(struct q_table *t, size_t col, const json_t *v)
{
	if (json_is_number(v))
		q_cell(t, col, "$%.6f", json_number_value(v));
	else
		q_cell(t, col, "-");
}

/* Prints j and frees it; the exit code. */
static int q_print_json(json_t *j)
{
	int err = json_dumpf(j, stdout, JSON_COMPACT);

	json_decref(j);
	if (err || putchar('\n') == EOF) {
		log_err("cannot write the result: %s", strerror(errno));
		return 1;
	}
	return 0;
}

/* --- query ---------------------------------------------------------- */

static void q_agg_cells(struct q_table *t, const json_t *g)
{
	q_cell(t, 1, "%lld", q_int(g, "requests"));
	q_cell(t, 2, "%lld", q_int(g, "errors"));
	q_cell(t, 3, "%.1f%%", 100 * q_num(g, "error_rate"));
	q_cell(t, 4, "%lld", q_int(g, "input_tokens"));
	q_cell(t, 5, "%lld", q_int(g, "output_tokens"));
	q_cell(t, 6, "%lld", q_int(g, "cached_input_tokens"));
	q_cost(t, 7, json_object_get(g, "cost_usd"));
	q_cell(t, 8, "%.1f", q_num(g, "avg_duration_ms"));
}

static void q_key_cell(struct q_table *t, const json_t *key)
{
	if (json_is_string(key))
		q_cell(t, 0, "%s", json_string_value(key));
	else if (json_is_integer(key))
		q_cell(t, 0, "%" JSON_INTEGER_FORMAT, json_integer_value(key));
	else
		q_cell(t, 0, "(none)");
}

static int q_query(struct store *s, const struct q_args *a)
{
	static const char *const cols[] = {
		"KEY", ">REQUESTS", ">ERRORS", ">ERR%", ">INPUT", ">OUTPUT",
		">CACHED", ">COST", ">AVG_MS", NULL
	};
	json_t *r = store_query_by(s, &a->f, a->by, a->top);
	struct q_table t;
	json_t *g;
	size_t i;

	if (!r)
		return 1;
	if (a->json)
		return q_print_json(r);
	q_table_init(&t, cols);
	t.head[0] = a->by;
	json_array_foreach(json_object_get(r, "groups"), i, g) {
		q_table_row(&t);
		q_key_cell(&t, json_object_get(g, "key"));
		q_agg_cells(&t, g);
	}
	q_table_row(&t);
	q_cell(&t, 0, "TOTAL");
	q_agg_cells(&t, json_object_get(r, "total"));
	q_table_print(&t);
	json_decref(r);
	return 0;
}

/* --- calls ---------------------------------------------------------- */

static void q_call_row(struct q_table *t, const json_t *c)
{
	const json_t *u = json_object_get(c, "usage");
	const json_t *err = json_object_get(c, "error");
	char when[Q_TIME_LEN];

	q_table_row(t);
	q_cell(t, 0, "%s", q_time(c, "ts", when));
	q_cell(t, 1, "%s", q_str(c, "user_id", "-"));
	q_cell(t, 2, "%s", q_str(c, "model", "-"));
	q_cell(t, 3, "%s", q_str(json_object_get(c, "process"), "comm", "-"));
	q_cell(t, 4, "%lld", q_int(u, "input_tokens"));
	q_cell(t, 5, "%lld", q_int(u, "output_tokens"));
	q_cost(t, 6, json_object_get(c, "cost_usd"));
	q_cell(t, 7, "%.1f", q_num(c, "duration_ms"));
	q_cell(t, 8, "%s", json_is_object(err) ? q_str(err, "type", "error") :
			   "ok");
	q_cell(t, 9, "%s", q_str(json_object_get(c, "session"), "id", "-"));
}

static int q_calls(struct store *s, const struct q_args *a)
{
	static const char *const cols[] = {
		"TIME (UTC)", "USER_ID", "MODEL", "PROCESS", ">IN", ">OUT",
		">COST", ">MS", "STATUS", "SESSION", NULL
	};
	json_t *r = store_calls(s, &a->f, a->limit, a->offset);
	struct q_table t;
	json_t *c;
	size_t i;

	if (!r)
		return 1;
	if (a->json)
		return q_print_json(r);
	q_table_init(&t, cols);
	json_array_foreach(json_object_get(r, "calls"), i, c)
		q_call_row(&t, c);
	q_table_print(&t);
	printf("%zu of %lld calls\n",
	       json_array_size(json_object_get(r, "calls")),
	       q_int(r, "total"));
	json_decref(r);
	return 0;
}

/* --- sessions ------------------------------------------------------- */

static int q_sessions(struct store *s, const struct q_args *a)
{
	static const char *const cols[] = {
		"SESSION", "NAME", "INFERRED", "USER_ID", ">REQUESTS",
		">ERRORS", ">COST", ">DURATION_MS", "START (UTC)", NULL
	};
	json_t *r = store_sessions(s, &a->f, a->top);
	char when[Q_TIME_LEN];
	struct q_table t;
	json_t *x;
	size_t i;

	if (!r)
		return 1;
	if (a->json)
		return q_print_json(r);
	q_table_init(&t, cols);
	json_array_foreach(json_object_get(r, "sessions"), i, x) {
		q_table_row(&t);
		q_cell(&t, 0, "%s", q_str(x, "id", "-"));
		q_cell(&t, 1, "%s", q_str(x, "name", "-"));
		q_cell(&t, 2, "%s", json_is_true(json_object_get(x,
					"inferred")) ? "yes" : "no");
		q_cell(&t, 3, "%s", q_str(x, "user_id", "-"));
		q_cell(&t, 4, "%lld", q_int(x, "requests"));
		q_cell(&t, 5, "%lld", q_int(x, "errors"));
		q_cost(&t, 6, json_object_get(x, "cost_usd"));
		q_cell(&t, 7, "%.1f", q_num(x, "duration_ms"));
		q_cell(&t, 8, "%s", q_time(x, "first_seen", when));
	}
	q_table_print(&t);
	json_decref(r);
	return 0;
}

static void q_node_print(const json_t *node, int depth)
{
	const char *name = q_str(node, "name", "");
	char when[Q_TIME_LEN];
	const json_t *x;
	size_t i;

	printf("%*s%s  %lld calls  $%.6f  %.1f ms\n", 2 * depth, "",
	       depth ? name : "/", q_int(node, "total_requests"),
	       q_num(node, "total_cost_usd"), q_num(node, "duration_ms"));
	json_array_foreach(json_object_get(node, "calls"), i, x) {
		printf("%*s- %s  %s  ", 2 * depth + 2, "",
		       q_time(x, "ts", when), q_str(x, "model", "-"));
		if (json_is_number(json_object_get(x, "cost_usd")))
			printf("$%.6f", q_num(x, "cost_usd"));
		else
			printf("$-");
		printf("  %.1f ms  %s\n", q_num(x, "duration_ms"),
		       q_str(x, "error_type", "ok"));
	}
	json_array_foreach(json_object_get(node, "children"), i, x)
		q_node_print(x, depth + 1);
}

static int q_session(struct store *s, const struct q_args *a)
{
	json_t *r = store_session(s, a->id);
	bool inferred, ok;

	if (!r) {
		log_err("no session '%s' in the store", a->id);
		return 1;
	}
	if (a->json)
		return q_print_json(r);
	inferred = json_is_true(json_object_get(r, "inferred"));
	ok = json_is_true(json_object_get(r, "success"));
	printf("session %s%s%s\n", a->id, inferred ? " (inferred)" : "",
	       ok ? "" : " (with errors)");
	printf("%lld calls, %lld errors, $%.6f, %lld input and %lld output "
	       "tokens, %.1f ms from first start to last end\n",
	       q_int(r, "requests"), q_int(r, "errors"), q_num(r, "cost_usd"),
	       q_int(r, "input_tokens"), q_int(r, "output_tokens"),
	       q_num(r, "duration_ms"));
	q_node_print(json_object_get(r, "tree"), 0);
	if (json_is_true(json_object_get(r, "truncated")))
		printf("(more calls not shown)\n");
	json_decref(r);
	return 0;
}

/* --- users ---------------------------------------------------------- */

static void q_user_row(struct q_table *t, const json_t *u, bool os)
{
	char first[Q_TIME_LEN], last[Q_TIME_LEN];

	q_table_row(t);
	if (os)
		q_cell(t, 0, "%s (%lld)", q_str(u, "user", "?"),
		       q_int(u, "uid"));
	else
		q_cell(t, 0, "%s", q_str(u, "user_id", "(none)"));
	q_cell(t, 1, "%lld", q_int(u, "requests"));
	q_cell(t, 2, "%.1f%%", 100 * q_num(u, "error_rate"));
	q_cost(t, 3, json_object_get(u, "cost_usd"));
	q_cell(t, 4, "%lld", q_int(u, "total_tokens"));
	q_cell(t, 5, "%lld", q_int(u, "active_days"));
	q_cost(t, 6, json_object_get(u, "cost_per_active_day"));
	q_cell(t, 7, "%s", q_time(u, "first_seen", first));
	q_cell(t, 8, "%s", q_time(u, "last_seen", last));
}

static int q_users(struct store *s, const struct q_args *a)
{
	static const char *const cols[] = {
		"USER_ID", ">REQUESTS", ">ERR%", ">COST", ">TOKENS", ">DAYS",
		">COST/DAY", "FIRST (UTC)", "LAST (UTC)", NULL
	};
	json_t *r = store_users(s, &a->f, a->os, a->top);
	struct q_table t;
	json_t *u;
	size_t i;

	if (!r)
		return 1;
	if (a->json)
		return q_print_json(r);
	q_table_init(&t, cols);
	if (a->os)
		t.head[0] = "USER (UID)";
	json_array_foreach(json_object_get(r, "users"), i, u)
		q_user_row(&t, u, a->os);
	q_table_print(&t);
	json_decref(r);
	return 0;
}

/* --- cache ---------------------------------------------------------- */

static void q_cache_models(const json_t *r)
{
	static const char *const cols[] = {
		"PROVIDER", "MODEL", ">INPUT", ">CACHED", ">HIT%", ">SAVED",
		NULL
	};
	struct q_table t;
	json_t *m;
	size_t i;

	q_table_init(&t, cols);
	json_array_foreach(json_object_get(r, "by_model"), i, m) {
		q_table_row(&t);
		q_cell(&t, 0, "%s", q_str(m, "provider", "-"));
		q_cell(&t, 1, "%s", q_str(m, "model", "-"));
		q_cell(&t, 2, "%lld", q_int(m, "input_tokens"));
		q_cell(&t, 3, "%lld", q_int(m, "cached_input_tokens"));
		q_cell(&t, 4, "%.1f%%", 100 * q_num(m, "hit_rate"));
		q_cost(&t, 5, json_object_get(m, "saved_usd"));
	}
	q_table_print(&t);
}

static void q_cache_repeats(const json_t *rep)
{
	static const char *const cols[] = {
		"REQUEST_HASH", "MODEL", ">REPEATS", ">COST", NULL
	};
	struct q_table t;
	json_t *x;
	size_t i;

	printf("\nexact repeats within %llds: %lld of %lld successful calls "
	       "(%.1f%%); a response cache would have saved $%.6f\n",
	       q_int(rep, "ttl_s"), q_int(rep, "repeats"),
	       q_int(rep, "requests"), 100 * q_num(rep, "repeat_rate"),
	       q_num(rep, "saved_usd"));
	if (!json_array_size(json_object_get(rep, "top")))
		return;
	q_table_init(&t, cols);
	json_array_foreach(json_object_get(rep, "top"), i, x) {
		q_table_row(&t);
		q_cell(&t, 0, "%.16s", q_str(x, "request_hash", "-"));
		q_cell(&t, 1, "%s", q_str(x, "model", "-"));
		q_cell(&t, 2, "%lld", q_int(x, "repeats"));
		q_cost(&t, 3, json_object_get(x, "cost_usd"));
	}
	q_table_print(&t);
}

static int q_cache(struct store *s, const struct q_args *a)
{
	json_t *r = store_cache_ttl(s, &a->f, a->ttl_s);

	if (!r)
		return 1;
	if (a->json)
		return q_print_json(r);
	printf("prompt cache: %lld of %lld input tokens read from cache "
	       "(%.1f%%), $%.6f saved\n\n", q_int(r, "cached_input_tokens"),
	       q_int(r, "input_tokens"), 100 * q_num(r, "hit_rate"),
	       q_num(r, "saved_usd"));
	q_cache_models(r);
	q_cache_repeats(json_object_get(r, "repeats"));
	json_decref(r);
	return 0;
}

/* --- the commands --------------------------------------------------- */

static const struct q_cmd q_cmds[] = {
	{ "query", Q_DB | Q_SINCE | Q_BY | Q_TOP | Q_JSON, 0,
	  "usage: llmtap query [--db FILE] [--since D] [--by KEY] [--top N]"
	  " [--json]\n\nRequests, errors, tokens and cost per group.\n\n"
	  Q_USAGE_DB Q_USAGE_SINCE
	  "      --by KEY        user_id, model (default), session, process,"
	  "\n                      uid, user, provider, container or"
	  " property:NAME\n"
	  "      --top N         only the N costliest groups\n" Q_USAGE_JSON,
	  q_query },
	{ "calls", Q_DB | Q_SINCE | Q_USER | Q_SESSION | Q_MODEL | Q_LIMIT |
	  Q_OFFSET | Q_JSON, 0,
	  "usage: llmtap calls [--user ID] [--session ID] [--model M]"
	  " [--since D]\n                   [--limit N] [--offset N]"
	  " [--json]\n\nThe calls, newest first.\n\n" Q_USAGE_DB
	  Q_USAGE_SINCE
	  "      --user ID       only this user_id\n"
	  "      --session ID    only this session\n"
	  "      --model M       only this model (asked for or answering)\n"
	  "      --limit N       at most N calls (default 20; 0: all)\n"
	  "      --offset N      skip the N newest first\n" Q_USAGE_JSON,
	  q_calls },
	{ "sessions", Q_DB | Q_SINCE | Q_USER | Q_TOP | Q_JSON, 0,
	  "usage: llmtap sessions [--since D] [--user ID] [--top N]"
	  " [--json]\n\nSessions, declared and inferred, newest first.\n\n"
	  Q_USAGE_DB Q_USAGE_SINCE
	  "      --user ID       only this user_id's calls\n"
	  "      --top N         only the N newest\n" Q_USAGE_JSON,
	  q_sessions },
	{ "session", Q_DB | Q_JSON, 1,
	  "usage: llmtap session ID [--db FILE] [--json]\n\nOne session: its"
	  " totals and its tree of Session-Path steps.\n\n" Q_USAGE_DB
	  Q_USAGE_JSON, q_session },
	{ "users", Q_DB | Q_SINCE | Q_OS | Q_TOP | Q_JSON, 0,
	  "usage: llmtap users [--os] [--since D] [--top N] [--json]\n\n"
	  "Per user_id (or OS user): requests, cost, tokens, error rate.\n\n"
	  Q_USAGE_DB Q_USAGE_SINCE
	  "      --os            per OS user (uid) instead of user_id\n"
	  "      --top N         only the N costliest\n" Q_USAGE_JSON,
	  q_users },
	{ "cache", Q_DB | Q_SINCE | Q_TTL | Q_JSON, 0,
	  "usage: llmtap cache [--since D] [--ttl D] [--json]\n\n"
	  "Prompt-cache hit rate and savings; exact repeat requests.\n\n"
	  Q_USAGE_DB Q_USAGE_SINCE
	  "      --ttl D         how long a response cache would keep an\n"
	  "                      answer (default 1h)\n" Q_USAGE_JSON,
	  q_cache },
};

/* "90s", "10m", "1h", "7d", "2w" in seconds; -EINVAL. */
static int q_duration(const char *arg, uint64_t *out)
{
	static const char units[] = "smhdw";
	static const uint64_t secs[] = { 1, 60, 3600, 86400, 604800 };
	const char *u;
	char *end;
	unsigned long long v;

	errno = 0;
	v = strtoull(arg, &end, 10);
	u = end != arg && end[0] && !end[1] ? strchr(units, end[0]) : NULL;
	if (errno || arg[0] == '-' || !u || v > UINT64_MAX / Q_NS_PER_S /
					       secs[u - units]) {
		log_err("bad duration '%s': a number and a unit, s m h d or w "
			"(e.g. 10m, 1h, 7d)", arg);
		return -EINVAL;
	}
	*out = v * secs[u - units];
	return 0;
}

static int q_count(const char *arg, int *out)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(arg, &end, 10);
	if (errno || end == arg || *end || v < 0 || v > INT32_MAX) {
		log_err("not a count: '%s'", arg);
		return -EINVAL;
	}
	*out = (int)v;
	return 0;
}

static int q_since(const char *arg, struct store_filter *f)
{
	uint64_t secs, now = (uint64_t)time(NULL);

	if (q_duration(arg, &secs))
		return -EINVAL;
	f->since_ns = secs < now ? (now - secs) * Q_NS_PER_S : 0;
	return 0;
}

/* The options that are a plain string. */
static int q_opt_str(int opt, const char *arg, struct q_args *a)
{
	if (opt == Q_DB)
		a->db = arg;
	else if (opt == Q_BY)
		a->by = arg;
	else if (opt == Q_USER)
		a->f.user_id = arg;
	else if (opt == Q_SESSION)
		a->f.session_id = arg;
	else if (opt == Q_MODEL)
		a->f.model = arg;
	else
		return -EINVAL;
	return 0;
}

/* One option into a; -EINVAL after saying why. */
static int q_opt(int opt, const char *arg, struct q_args *a)
{
	switch (opt) {
	case Q_SINCE:
		return q_since(arg, &a->f);
	case Q_TOP:
		return q_count(arg, &a->top);
	case Q_LIMIT:
		return q_count(arg, &a->limit);
	case Q_OFFSET:
		return q_count(arg, &a->offset);
	case Q_TTL:
		return q_duration(arg, &a->ttl_s);
	case Q_JSON:
		a->json = true;
		break;
	case Q_OS:
		a->os = true;
		break;
	default:
		return q_opt_str(opt, arg, a);
	}
	return 0;
}

static const char *q_opt_name(int opt)
{
	for (size_t i = 0; q_opts[i].name; i++)
		if (q_opts[i].val == opt)
			return q_opts[i].name;
	return "?";
}

static bool q_known_by(const char *by)
{
	static const char *const keys[] = {
		"user_id", "model", "session", "process", "uid", "user",
		"provider", "container",
	};

	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
		if (!strcmp(by, keys[i]))
			return true;
	return !strncmp(by, "property:", 9) && by[9];
}

/* 0 to go on, else the exit code. */
static int q_parse(const struct q_cmd *c, int argc, char **argv,
		   struct q_args *a)
{
	int opt;

	opterr = 0;
	while ((opt = getopt_long(argc, argv, ":h", q_opts, NULL)) != -1) {
		if (opt == 'h') {
			fputs(c->usage, stdout);
			return -1;
		}
		if (opt == ':') {
			log_err("%s: %s needs a value", c->name,
				argv[optind - 1]);
			return 2;
		}
		if (opt == '?' || !(c->opts & (unsigned)opt)) {
			log_err("%s: unknown option '%s%s'; see 'llmtap %s "
				"--help'", c->name, opt == '?' ? "" : "--",
				opt == '?' ? argv[optind - 1] :
				q_opt_name(opt), c->name);
			return 2;
		}
		if (q_opt(opt, optarg, a))
			return 2;
	}
	if (argc - optind != c->npos) {
		log_err("%s takes %s; see 'llmtap %s --help'", c->name,
			c->npos ? "one argument" : "no arguments", c->name);
		return 2;
	}
	if (c->npos)
		a->id = argv[optind];
	if (!q_known_by(a->by)) {
		log_err("cannot group by '%s'; see 'llmtap query --help'",
			a->by);
		return 2;
	}
	return 0;
}

static int q_main(const struct q_cmd *c, int argc, char **argv)
{
	struct q_args a = { .by = "model", .limit = Q_CALLS_LIMIT,
			    .ttl_s = Q_CACHE_TTL_S, .f = { .uid = -1 } };
	struct store_opts so = { .read_only = true };
	struct store *s;
	int rc;

	rc = q_parse(c, argc, argv, &a);
	if (rc)
		return rc < 0 ? 0 : rc;
	so.path = a.db;
	s = store_open(&so);
	if (!s)
		return 1;
	rc = c->run(s, &a);
	store_close(s);
	return rc;
}

bool cmd_query_is(const char *name)
{
	for (size_t i = 0; i < sizeof(q_cmds) / sizeof(q_cmds[0]); i++)
		if (!strcmp(q_cmds[i].name, name))
			return true;
	return false;
}

int cmd_query(int argc, char **argv)
{
	for (size_t i = 0; i < sizeof(q_cmds) / sizeof(q_cmds[0]); i++)
		if (!strcmp(q_cmds[i].name, argv[0]))
			return q_main(&q_cmds[i], argc, argv);
	log_err("unknown command '%s'", argv[0]);
	return 2;
}
