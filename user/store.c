// SPDX-License-Identifier: MIT
/*
 * The call store: opening the SQLite file, queueing records, committing
 * them once a second, and retention. The queries are in store_query.c.
 *
 * Durability: WAL with synchronous=NORMAL, so a commit is one append to
 * the log; a crash of llmtap (kill -9) loses only what was queued since
 * the last store_flush. A power cut may lose the last commits too, never
 * the file.
 *
 * Nothing is stored twice: each record's key is a digest of what tells
 * calls apart (ts, pid, request_hash, request_id, duration_ms), UNIQUE
 * in the table and inserted with INSERT OR IGNORE. Replaying a
 * recording into a database again adds nothing.
 *
 * Retention deletes the oldest calls, by age and then by size, and
 * hands the freed pages back with an incremental vacuum, so the file
 * shrinks rather than only reusing its pages.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <sqlite3.h>

#include "log.h"
#include "store.h"

/* PRAGMA user_version of the layout below. */
#define STORE_SCHEMA_VERSION 2
/* How long a statement waits for another connection's lock. */
#define STORE_BUSY_MS 5000
/* Records queued between flushes, by count and by bytes of JSON. */
#define STORE_QUEUE_MAX 10000
#define STORE_QUEUE_MAX_BYTES (64u << 20)
/* Retention runs at a flush that added rows, and at least this often. */
#define STORE_RETAIN_EVERY_NS (60ull * 1000000000ull)
/* Size retention deletes the oldest calls in batches of a twentieth,
 * at least this many. */
#define STORE_TRIM_MIN_ROWS 10
#define STORE_TRIM_FRACTION 20
#define STORE_KEY_BYTES 16
#define STORE_NS_PER_S 1000000000ull
#define STORE_NS_PER_MS 1e6
#define STORE_DIR_MODE 0700
#define STORE_FILE_MODE 0600

struct store_item {
	char *text;	/* the record as one JSON line */
	size_t len;
};

struct store {
	sqlite3 *db;
	struct store_opts opts;
	char *path;
	sqlite3_stmt *ins_call;
	sqlite3_stmt *ins_prop;
	struct store_item *q;
	size_t nq;
	size_t qbytes;
	uint64_t dropped;
	uint64_t last_retain_ns;
	bool failing;	/* the last flush failed: log the next once */
};

/* Version 2: alert and enforcement lines, kept beside the calls. */
#define STORE_EVENTS_SCHEMA \
	"CREATE TABLE events (" \
	" id INTEGER PRIMARY KEY," \
	" ts_ns INTEGER NOT NULL," \
	" type TEXT NOT NULL," \
	" record TEXT NOT NULL);" \
	"CREATE INDEX events_type_ts ON events(type, ts_ns);"

static const char store_schema[] =
	"CREATE TABLE calls ("
	" id INTEGER PRIMARY KEY,"
	" key TEXT NOT NULL UNIQUE,"
	" ts_ns INTEGER NOT NULL,"
	" end_ns INTEGER NOT NULL,"
	" pid INTEGER, comm TEXT, exe TEXT, uid INTEGER, user TEXT,"
	" container TEXT,"
	" provider TEXT, operation TEXT, model TEXT, response_model TEXT,"
	" stream INTEGER, status INTEGER, error_type TEXT,"
	" input_tokens INTEGER, output_tokens INTEGER,"
	" cached_tokens INTEGER, cache_write_tokens INTEGER,"
	" reasoning_tokens INTEGER, total_tokens INTEGER,"
	" cost_usd REAL, duration_ms REAL, ttft_ms REAL,"
	" user_id TEXT, session_id TEXT, session_path TEXT,"
	" session_name TEXT, session_inferred INTEGER,"
	" request_hash TEXT, request_id TEXT, incomplete INTEGER,"
	" record TEXT NOT NULL);"
	"CREATE TABLE properties ("
	" call_id INTEGER NOT NULL REFERENCES calls(id) ON DELETE CASCADE,"
	" name TEXT NOT NULL, value TEXT);"
	"CREATE INDEX calls_ts ON calls(ts_ns);"
	"CREATE INDEX calls_user_id ON calls(user_id);"
	"CREATE INDEX calls_session ON calls(session_id);"
	"CREATE INDEX calls_model ON calls(model);"
	"CREATE INDEX calls_hash ON calls(request_hash);"
	"CREATE INDEX properties_call ON properties(call_id);"
	"CREATE INDEX properties_name ON properties(name, value);"
	STORE_EVENTS_SCHEMA;

static const char store_ins_call_sql[] =
	"INSERT OR IGNORE INTO calls (key, ts_ns, end_ns, pid, comm, exe,"
	" uid, user, container, provider, operation, model, response_model,"
	" stream, status, error_type, input_tokens, output_tokens,"
	" cached_tokens, cache_write_tokens, reasoning_tokens, total_tokens,"
	" cost_usd, duration_ms, ttft_ms, user_id, session_id, session_path,"
	" session_name, session_inferred, request_hash, request_id,"
	" incomplete, record) VALUES (:key, :ts_ns, :end_ns, :pid, :comm,"
	" :exe, :uid, :user, :container, :provider, :operation, :model,"
	" :response_model, :stream, :status, :error_type, :input_tokens,"
	" :output_tokens, :cached_tokens, :cache_write_tokens,"
	" :reasoning_tokens, :total_tokens, :cost_usd, :duration_ms,"
	" :ttft_ms, :user_id, :session_id, :session_path, :session_name,"
	" :session_inferred, :request_hash, :request_id, :incomplete,"
	" :record)";

static const char store_ins_prop_sql[] =
	"INSERT INTO properties (call_id, name, value) VALUES (?, ?, ?)";

/* --- small helpers -------------------------------------------------- */

static int store_exec(struct store *s, const char *sql, const char *what)
{
	char *msg = NULL;

	if (sqlite3_exec(s->db, sql, NULL, NULL, &msg) == SQLITE_OK)
		return 0;
	log_err("store: %s: %s: %s", s->path, what, msg ? msg : "?");
	sqlite3_free(msg);
	return -EIO;
}

/* One integer from a statement such as a PRAGMA; -1 on error. */
static int64_t store_int(struct store *s, const char *sql)
{
	sqlite3_stmt *st = NULL;
	int64_t v = -1;

	if (sqlite3_prepare_v2(s->db, sql, -1, &st, NULL) == SQLITE_OK &&
	    sqlite3_step(st) == SQLITE_ROW)
		v = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return v;
}

static uint64_t store_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * STORE_NS_PER_S + (uint64_t)ts.tv_nsec;
}

int store_parse_ts(const char *ts, uint64_t *out)
{
	struct tm tm = { 0 };
	const char *p = ts ? strptime(ts, "%Y-%m-%dT%H:%M:%S", &tm) : NULL;
	uint64_t frac = 0, scale = STORE_NS_PER_S;
	time_t sec;

	if (!p)
		return -EINVAL;
	if (*p == '.') {
		for (p++; *p >= '0' && *p <= '9'; p++) {
			scale /= 10;
			frac += (uint64_t)(*p - '0') * scale;
		}
	}
	sec = timegm(&tm);
	if (*p != 'Z' || p[1] || sec < 0)
		return -EINVAL;
	*out = (uint64_t)sec * STORE_NS_PER_S + frac;
	return 0;
}

/* --- opening -------------------------------------------------------- */

/* The directory the file goes in, made (and its parents) if missing. */
static int store_mkdirs(const char *path)
{
	char *dir = strdup(path);
	char *slash = dir ? strrchr(dir, '/') : NULL;
	int err = 0;

	if (!dir)
		return -ENOMEM;
	for (char *p = dir + 1; slash && p <= slash && !err; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(dir, STORE_DIR_MODE) && errno != EEXIST)
			err = -errno;
		*p = '/';
	}
	if (err)
		log_err("store: cannot make the directory of %s: %s", path,
			strerror(-err));
	free(dir);
	return err;
}

/* Made 0600 before SQLite opens it: it may hold prompts, and SQLite
 * gives its -wal and -shm files the same mode. */
static int store_create_file(const char *path)
{
	int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, STORE_FILE_MODE);

	if (fd < 0) {
		log_err("store: cannot create %s: %s", path, strerror(errno));
		return -errno;
	}
	close(fd);
	return 0;
}

static int store_open_db(struct store *s)
{
	int flags = s->opts.read_only ? SQLITE_OPEN_READONLY :
					SQLITE_OPEN_READWRITE;

	if (s->opts.read_only && access(s->path, R_OK)) {
		log_err("no database at %s (%s); 'llmtap run' writes one, "
			"or give --db FILE", s->path, strerror(errno));
		return -ENOENT;
	}
	if (!s->opts.read_only &&
	    (store_mkdirs(s->path) || store_create_file(s->path)))
		return -EIO;
	if (sqlite3_open_v2(s->path, &s->db, flags, NULL) != SQLITE_OK) {
		log_err("store: cannot open %s: %s", s->path,
			s->db ? sqlite3_errmsg(s->db) : "out of memory");
		return -EIO;
	}
	sqlite3_busy_timeout(s->db, STORE_BUSY_MS);
	return 0;
}

/* Version 1 had no events table: add it. Read-only opens leave the
 * file alone and simply have no events. */
static int store_migrate_v1(struct store *s)
{
	char sql[64];

	if (s->opts.read_only)
		return 0;
	snprintf(sql, sizeof(sql), "PRAGMA user_version = %d",
		 STORE_SCHEMA_VERSION);
	if (store_exec(s, "BEGIN", "begin") ||
	    store_exec(s, STORE_EVENTS_SCHEMA, "adding the events table") ||
	    store_exec(s, sql, "setting the version") ||
	    store_exec(s, "COMMIT", "commit"))
		return -EIO;
	log_info("store: %s moved to schema version %d", s->path,
		 STORE_SCHEMA_VERSION);
	return 0;
}

/* A new file gets the tables; a known one must have our version. */
static int store_schema_check(struct store *s)
{
	int64_t v = store_int(s, "PRAGMA user_version");
	int64_t tables = store_int(s, "SELECT count(*) FROM sqlite_master");
	char sql[64];

	if (v < 0 || tables < 0) {
		log_err("store: cannot read %s: %s", s->path,
			sqlite3_errmsg(s->db));
		return -EIO;
	}
	if (v == STORE_SCHEMA_VERSION)
		return 0;
	if (v == 1)
		return store_migrate_v1(s);
	if (v != 0 || tables != 0 || s->opts.read_only) {
		log_err("store: %s is not an llmtap database of schema "
			"version %d (it says %" PRId64 ")", s->path,
			STORE_SCHEMA_VERSION, v);
		return -EINVAL;
	}
	snprintf(sql, sizeof(sql), "PRAGMA user_version = %d",
		 STORE_SCHEMA_VERSION);
	if (store_exec(s, "BEGIN", "begin") ||
	    store_exec(s, store_schema, "creating the tables") ||
	    store_exec(s, sql, "setting the version") ||
	    store_exec(s, "COMMIT", "commit"))
		return -EIO;
	return 0;
}

/* auto_vacuum must be chosen before the first table exists. */
static int store_configure(struct store *s)
{
	if (s->opts.read_only)
		return store_exec(s, "PRAGMA query_only = ON", "query_only");
	if (store_exec(s, "PRAGMA auto_vacuum = INCREMENTAL", "auto_vacuum") ||
	    store_exec(s, "PRAGMA journal_mode = WAL", "journal_mode") ||
	    store_exec(s, "PRAGMA synchronous = NORMAL", "synchronous") ||
	    store_exec(s, "PRAGMA foreign_keys = ON", "foreign_keys"))
		return -EIO;
	return 0;
}

static int store_prepare(struct store *s)
{
	if (s->opts.read_only)
		return 0;
	if (sqlite3_prepare_v2(s->db, store_ins_call_sql, -1, &s->ins_call,
			       NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(s->db, store_ins_prop_sql, -1, &s->ins_prop,
			       NULL) != SQLITE_OK) {
		log_err("store: %s: %s", s->path, sqlite3_errmsg(s->db));
		return -EIO;
	}
	return 0;
}

struct store *store_open(const struct store_opts *o)
{
	struct store *s = calloc(1, sizeof(*s));

	if (!s)
		return NULL;
	s->opts = *o;
	s->path = strdup(o->path ? o->path : STORE_DEFAULT_PATH);
	if (!s->path || store_open_db(s) || store_configure(s) ||
	    store_schema_check(s) || store_prepare(s)) {
		store_close(s);
		return NULL;
	}
	s->opts.path = s->path;
	log_debug("store: %s open%s", s->path,
		  o->read_only ? " read-only" : "");
	return s;
}

static void store_queue_clear(struct store *s)
{
	for (size_t i = 0; i < s->nq; i++)
		free(s->q[i].text);
	s->nq = 0;
	s->qbytes = 0;
}

void store_close(struct store *s)
{
	if (!s)
		return;
	if (s->db && !s->opts.read_only)
		store_flush(s);
	store_queue_clear(s);
	free(s->q);
	sqlite3_finalize(s->ins_call);
	sqlite3_finalize(s->ins_prop);
	sqlite3_close(s->db);
	free(s->path);
	free(s);
}

struct sqlite3 *store_db(struct store *s)
{
	return s ? s->db : NULL;
}

const char *store_pricing_path(const struct store *s)
{
	return s ? s->opts.pricing_path : NULL;
}

uint64_t store_dropped(const struct store *s)
{
	return s ? s->dropped : 0;
}

/* --- queueing ------------------------------------------------------- */

static bool store_valid(const json_t *rec)
{
	const char *type = json_string_value(json_object_get(rec, "type"));
	uint64_t ts;

	return json_is_object(rec) && type && !strcmp(type, "llm_call") &&
	       store_parse_ts(json_string_value(json_object_get(rec, "ts")),
			      &ts) == 0;
}

static int store_grow(struct store *s)
{
	struct store_item *q;

	if (s->q)
		return 0;
	q = calloc(STORE_QUEUE_MAX, sizeof(*q));
	if (!q)
		return -ENOMEM;
	s->q = q;
	return 0;
}

int store_add(struct store *s, const json_t *rec)
{
	char *text;
	size_t len;

	if (!s || s->opts.read_only)
		return -EROFS;
	if (!store_valid(rec)) {
		s->dropped++;
		return -EINVAL;
	}
	if (store_grow(s))
		return -ENOMEM;
	text = json_dumps(rec, JSON_COMPACT);
	len = text ? strlen(text) : 0;
	/* A burst (or a replay, which has no ticks) commits early. */
	if (s->nq == STORE_QUEUE_MAX ||
	    s->qbytes + len > STORE_QUEUE_MAX_BYTES)
		store_flush(s);
	if (!text || s->nq == STORE_QUEUE_MAX ||
	    s->qbytes + len > STORE_QUEUE_MAX_BYTES) {
		free(text);
		s->dropped++;
		return text ? -ENOBUFS : -ENOMEM;
	}
	s->q[s->nq++] = (struct store_item){ .text = text, .len = len };
	s->qbytes += len;
	return 0;
}

/* --- committing ----------------------------------------------------- */

static void store_bind_str(sqlite3_stmt *st, const char *name,
			   const json_t *v)
{
	int i = sqlite3_bind_parameter_index(st, name);

	if (json_is_string(v))
		sqlite3_bind_text(st, i, json_string_value(v), -1,
				  SQLITE_TRANSIENT);
	else
		sqlite3_bind_null(st, i);
}

/* Integers, and booleans as 0 or 1; anything else is NULL. */
static void store_bind_int(sqlite3_stmt *st, const char *name,
			   const json_t *v)
{
	int i = sqlite3_bind_parameter_index(st, name);

	if (json_is_integer(v))
		sqlite3_bind_int64(st, i, json_integer_value(v));
	else if (json_is_boolean(v))
		sqlite3_bind_int(st, i, json_is_true(v));
	else
		sqlite3_bind_null(st, i);
}

static void store_bind_real(sqlite3_stmt *st, const char *name,
			    const json_t *v)
{
	int i = sqlite3_bind_parameter_index(st, name);

	if (json_is_number(v))
		sqlite3_bind_double(st, i, json_number_value(v));
	else
		sqlite3_bind_null(st, i);
}

/* The digest that makes a record's key (see the top of this file). */
static void store_key(const json_t *rec, char *hex, size_t len)
{
	json_t *id = json_pack("[O?, O?, O?, O?, O?]",
			       json_object_get(rec, "ts"),
			       json_object_get(json_object_get(rec, "process"),
					       "pid"),
			       json_object_get(rec, "request_hash"),
			       json_object_get(rec, "request_id"),
			       json_object_get(rec, "duration_ms"));
	char *text = id ? json_dumps(id, JSON_COMPACT) : NULL;
	unsigned char d[EVP_MAX_MD_SIZE];
	size_t n = 0;

	if (!text || !EVP_Digest(text, strlen(text), d, NULL, EVP_sha256(),
				 NULL))
		memset(d, 0, sizeof(d));
	for (size_t i = 0; i < STORE_KEY_BYTES && n + 3 <= len; i++)
		n += (size_t)snprintf(hex + n, len - n, "%02x", d[i]);
	free(text);
	json_decref(id);
}

static void store_bind_times(sqlite3_stmt *st, const json_t *rec)
{
	const json_t *dur = json_object_get(rec, "duration_ms");
	uint64_t ts = 0;

	store_parse_ts(json_string_value(json_object_get(rec, "ts")), &ts);
	sqlite3_bind_int64(st, sqlite3_bind_parameter_index(st, ":ts_ns"),
			   (int64_t)ts);
	sqlite3_bind_int64(st, sqlite3_bind_parameter_index(st, ":end_ns"),
			   (int64_t)ts + (int64_t)(json_number_value(dur) *
						   STORE_NS_PER_MS));
	store_bind_real(st, ":duration_ms", dur);
	store_bind_real(st, ":ttft_ms", json_object_get(rec, "ttft_ms"));
}

static void store_bind_process(sqlite3_stmt *st, const json_t *rec)
{
	const json_t *p = json_object_get(rec, "process");

	store_bind_int(st, ":pid", json_object_get(p, "pid"));
	store_bind_str(st, ":comm", json_object_get(p, "comm"));
	store_bind_str(st, ":exe", json_object_get(p, "exe"));
	store_bind_int(st, ":uid", json_object_get(p, "uid"));
	store_bind_str(st, ":user", json_object_get(p, "user"));
	store_bind_str(st, ":container", json_object_get(p, "container"));
}

static void store_bind_usage(sqlite3_stmt *st, const json_t *rec)
{
	const json_t *u = json_object_get(rec, "usage");

	store_bind_int(st, ":input_tokens",
		       json_object_get(u, "input_tokens"));
	store_bind_int(st, ":output_tokens",
		       json_object_get(u, "output_tokens"));
	store_bind_int(st, ":cached_tokens",
		       json_object_get(u, "cached_input_tokens"));
	store_bind_int(st, ":cache_write_tokens",
		       json_object_get(u, "cache_write_tokens"));
	store_bind_int(st, ":reasoning_tokens",
		       json_object_get(u, "reasoning_tokens"));
	store_bind_int(st, ":total_tokens",
		       json_object_get(u, "total_tokens"));
	store_bind_real(st, ":cost_usd", json_object_get(rec, "cost_usd"));
}

static void store_bind_call(sqlite3_stmt *st, const json_t *rec)
{
	const json_t *sess = json_object_get(rec, "session");
	const json_t *err = json_object_get(rec, "error");

	store_bind_str(st, ":provider", json_object_get(rec, "provider"));
	store_bind_str(st, ":operation", json_object_get(rec, "operation"));
	store_bind_str(st, ":model", json_object_get(rec, "model"));
	store_bind_str(st, ":response_model",
		       json_object_get(rec, "response_model"));
	store_bind_int(st, ":stream", json_object_get(rec, "stream"));
	store_bind_int(st, ":status",
		       json_object_get(json_object_get(rec, "http"),
				       "status"));
	/* An error without a type still counts as an error. */
	if (json_is_object(err) && !json_is_string(json_object_get(err,
								  "type")))
		err = json_pack("{s:s}", "type", "error");
	else
		json_incref((json_t *)err);
	store_bind_str(st, ":error_type", json_object_get(err, "type"));
	json_decref((json_t *)err);
	store_bind_str(st, ":user_id", json_object_get(rec, "user_id"));
	store_bind_str(st, ":session_id", json_object_get(sess, "id"));
	store_bind_str(st, ":session_path", json_object_get(sess, "path"));
	store_bind_str(st, ":session_name", json_object_get(sess, "name"));
	store_bind_int(st, ":session_inferred",
		       json_object_get(sess, "inferred"));
	store_bind_str(st, ":request_hash",
		       json_object_get(rec, "request_hash"));
	store_bind_str(st, ":request_id", json_object_get(rec, "request_id"));
	store_bind_int(st, ":incomplete", json_object_get(rec, "incomplete"));
}

static int store_insert_props(struct store *s, const json_t *rec)
{
	const json_t *props = json_object_get(rec, "properties");
	sqlite3_int64 id = sqlite3_last_insert_rowid(s->db);
	sqlite3_stmt *st = s->ins_prop;
	const char *name;
	json_t *v;

	json_object_foreach((json_t *)props, name, v) {
		sqlite3_reset(st);
		sqlite3_bind_int64(st, 1, id);
		sqlite3_bind_text(st, 2, name, -1, SQLITE_TRANSIENT);
		if (json_is_string(v))
			sqlite3_bind_text(st, 3, json_string_value(v), -1,
					  SQLITE_TRANSIENT);
		else
			sqlite3_bind_null(st, 3);
		if (sqlite3_step(st) != SQLITE_DONE)
			return -EIO;
	}
	return 0;
}

/* One queued record; a record that no longer parses is skipped. */
static int store_insert(struct store *s, const struct store_item *it)
{
	json_t *rec = json_loadb(it->text, it->len, 0, NULL);
	sqlite3_stmt *st = s->ins_call;
	char key[2 * STORE_KEY_BYTES + 1];
	int err = 0;

	if (!rec)
		return 0;
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	store_key(rec, key, sizeof(key));
	sqlite3_bind_text(st, sqlite3_bind_parameter_index(st, ":key"), key,
			  -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(st, sqlite3_bind_parameter_index(st, ":record"),
			  it->text, (int)it->len, SQLITE_STATIC);
	store_bind_times(st, rec);
	store_bind_process(st, rec);
	store_bind_usage(st, rec);
	store_bind_call(st, rec);
	if (sqlite3_step(st) != SQLITE_DONE)
		err = -EIO;
	else if (sqlite3_changes(s->db) == 1)
		err = store_insert_props(s, rec);
	sqlite3_reset(st);
	json_decref(rec);
	return err;
}

static int store_commit_queue(struct store *s)
{
	int err = 0;

	if (store_exec(s, "BEGIN IMMEDIATE", "begin"))
		return -EIO;
	for (size_t i = 0; i < s->nq && !err; i++)
		err = store_insert(s, &s->q[i]);
	if (err) {
		if (!s->failing)
			log_err("store: %s: cannot insert a call: %s",
				s->path, sqlite3_errmsg(s->db));
		store_exec(s, "ROLLBACK", "rollback");
		return err;
	}
	return store_exec(s, "COMMIT", "commit");
}

/* --- retention ------------------------------------------------------ */

static int store_run(struct store *s, const char *sql, int64_t arg)
{
	sqlite3_stmt *st = NULL;
	int rc;

	if (sqlite3_prepare_v2(s->db, sql, -1, &st, NULL) != SQLITE_OK) {
		log_err("store: %s: %s", s->path, sqlite3_errmsg(s->db));
		return -EIO;
	}
	sqlite3_bind_int64(st, 1, arg);
	rc = sqlite3_step(st);
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE) {
		log_err("store: %s: %s", s->path, sqlite3_errmsg(s->db));
		return -EIO;
	}
	return sqlite3_changes(s->db);
}

static int64_t store_used_bytes(struct store *s)
{
	int64_t pages = store_int(s, "PRAGMA page_count");
	int64_t free_pages = store_int(s, "PRAGMA freelist_count");
	int64_t size = store_int(s, "PRAGMA page_size");

	return (pages - free_pages) * size;
}

static int store_trim_size(struct store *s)
{
	int deleted = 0;

	while ((uint64_t)store_used_bytes(s) > s->opts.max_bytes) {
		int64_t rows = store_int(s, "SELECT count(*) FROM calls");
		int64_t batch = rows / STORE_TRIM_FRACTION;
		int n;

		if (rows <= 0)
			break;
		if (batch < STORE_TRIM_MIN_ROWS)
			batch = STORE_TRIM_MIN_ROWS;
		n = store_run(s, "DELETE FROM calls WHERE id IN (SELECT id "
			      "FROM calls ORDER BY ts_ns LIMIT ?)", batch);
		if (n <= 0)
			return n;
		deleted += n;
	}
	return deleted;
}

static int store_retain(struct store *s, uint64_t now)
{
	int aged = 0, trimmed = 0;

	s->last_retain_ns = now;
	if (s->opts.retain_seconds && now > s->opts.retain_seconds *
						    STORE_NS_PER_S)
		aged = store_run(s, "DELETE FROM calls WHERE ts_ns < ?",
				 (int64_t)(now - s->opts.retain_seconds *
						     STORE_NS_PER_S));
	if (s->opts.max_bytes)
		trimmed = store_trim_size(s);
	if (aged < 0 || trimmed < 0)
		return -EIO;
	if (aged + trimmed == 0)
		return 0;
	log_debug("store: retention removed %d old and %d more calls", aged,
		  trimmed);
	return store_exec(s, "PRAGMA incremental_vacuum", "vacuum");
}

int store_add_event(struct store *s, const json_t *ev)
{
	static const char sql[] =
		"INSERT INTO events (ts_ns, type, record) VALUES (?, ?, ?)";
	const char *type = json_string_value(json_object_get(ev, "type"));
	sqlite3_stmt *st = NULL;
	char *text;
	int rc;

	if (!s || s->opts.read_only || !type)
		return -EINVAL;
	text = json_dumps(ev, JSON_COMPACT);
	if (!text)
		return -ENOMEM;
	rc = sqlite3_prepare_v2(s->db, sql, -1, &st, NULL);
	if (rc == SQLITE_OK) {
		sqlite3_bind_int64(st, 1, (sqlite3_int64)store_now_ns());
		sqlite3_bind_text(st, 2, type, -1, SQLITE_TRANSIENT);
		sqlite3_bind_text(st, 3, text, -1, SQLITE_TRANSIENT);
		rc = sqlite3_step(st);
	}
	sqlite3_finalize(st);
	free(text);
	if (rc != SQLITE_DONE) {
		log_warn("store: %s: an event was not stored: %s", s->path,
			 sqlite3_errmsg(s->db));
		return -EIO;
	}
	return 0;
}

int store_flush(struct store *s)
{
	uint64_t now = store_now_ns();
	bool added = s && s->nq;
	int err;

	if (!s || s->opts.read_only)
		return s ? -EROFS : -EINVAL;
	err = added ? store_commit_queue(s) : 0;
	/* Kept for the next flush unless the queue is full anyway. */
	if (!err || s->nq == STORE_QUEUE_MAX) {
		s->dropped += err ? s->nq : 0;
		store_queue_clear(s);
	}
	if (!err && (added || now - s->last_retain_ns >=
				      STORE_RETAIN_EVERY_NS))
		err = store_retain(s, now);
	if (err && !s->failing)
		log_warn("store: %s: a flush failed; retrying each second",
			 s->path);
	s->failing = err != 0;
	return err;
}
