// SPDX-License-Identifier: MIT
/*
 * The HTTP API on 127.0.0.1 (a port the kernel picks), over a real
 * store in a temporary directory, asked with plain HTTP/1.1 over a
 * socket: status codes, content types, JSON shapes, bad parameters,
 * oversized queries, other methods, running without a store, and a
 * bearer token: 401 without it, 200 with it, and no address beyond
 * loopback without one.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "api.h"
#include "store.h"

#define REPLY_MAX (1u << 20)

struct reply {
	int status;
	char head[4096];
	char *body;
};

static struct {
	char dir[64];
	char db[96];
	struct metrics *metrics;
	struct prom *prom;
	struct api *api;
} t;

/* ---- a minimal client ---- */

static int connect_api(uint16_t port)
{
	struct sockaddr_in sa = { .sin_family = AF_INET,
				  .sin_port = htons(port) };
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	assert_true(fd >= 0);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	return fd;
}

static void send_all(int fd, const char *buf, size_t len)
{
	while (len) {
		ssize_t n = send(fd, buf, len, MSG_NOSIGNAL);

		if (n <= 0)
			return;	/* the server may close on a bad request */
		buf += n;
		len -= (size_t)n;
	}
}

static void read_reply(int fd, struct reply *r)
{
	char *buf = malloc(REPLY_MAX + 1), *sep;
	size_t len = 0;
	ssize_t n;

	assert_non_null(buf);
	while (len < REPLY_MAX &&
	       (n = recv(fd, buf + len, REPLY_MAX - len, 0)) > 0)
		len += (size_t)n;
	buf[len] = '\0';
	r->status = 0;
	sscanf(buf, "HTTP/1.1 %d", &r->status);
	sep = strstr(buf, "\r\n\r\n");
	if (sep) {
		snprintf(r->head, sizeof(r->head), "%.*s", (int)(sep - buf),
			 buf);
		r->body = strdup(sep + 4);
	} else {
		r->head[0] = '\0';
		r->body = strdup("");
	}
	free(buf);
}

static void request(const char *method, const char *target,
		    const char *extra, struct reply *r)
{
	char *req;
	int fd = connect_api(api_port(t.api));
	int n = asprintf(&req, "%s %s HTTP/1.1\r\nHost: t\r\n%s"
			 "Connection: close\r\n\r\n", method, target,
			 extra ? extra : "");

	assert_true(n > 0);
	send_all(fd, req, (size_t)n);
	free(req);
	read_reply(fd, r);
	close(fd);
}

/* GET target; checks the status; returns the body as JSON (or NULL
 * when it is not JSON). */
static json_t *get(const char *target, int want_status)
{
	struct reply r;
	json_t *v;

	request("GET", target, NULL, &r);
	if (r.status != want_status)
		fail_msg("GET %s: %d, want %d: %s", target, r.status,
			 want_status, r.body);
	v = json_loads(r.body, 0, NULL);
	free(r.body);
	return v;
}

static void expect_error(const char *target, int want_status)
{
	json_t *v = get(target, want_status);

	assert_true(json_is_string(json_object_get(v, "error")));
	json_decref(v);
}

/* ---- fixtures ---- */

static json_t *record(const char *model, const char *user,
		      const char *session, int status)
{
	json_t *r = json_pack(
		"{s:s, s:s, s:f, s:n, s:{s:i, s:s, s:s, s:i, s:s, s:n},"
		" s:{s:s, s:s, s:s, s:s, s:i}, s:s, s:s, s:s, s:s, s:b,"
		" s:{s:i, s:i, s:i, s:i, s:i, s:i}, s:f, s:s?, s:n,"
		" s:{s:s}, s:s, s:b}",
		"type", "llm_call", "ts", "2026-01-02T03:04:05.000000Z",
		"duration_ms", 120.5, "ttft_ms", "process", "pid", 7, "comm",
		"curl", "exe", "/usr/bin/curl", "uid", 0, "user", "root",
		"container", "http", "version", "1.1", "method", "POST",
		"host", "localhost", "path", "/v1/chat/completions", "status",
		status, "provider", "openai", "operation", "chat", "model",
		model, "response_model", model, "stream", 0, "usage",
		"input_tokens", 100, "output_tokens", 10,
		"cached_input_tokens", 0, "cache_write_tokens", 0,
		"reasoning_tokens", 0, "total_tokens", 110, "cost_usd", 0.001,
		"user_id", user, "session", "properties", "Environment",
		"prod", "request_id", "req_1", "incomplete", 0);

	assert_non_null(r);
	json_object_set_new(r, "session",
			    session ? json_pack("{s:s, s:s}", "id", session,
						"path", "/a")
				    : json_null());
	/* The store keeps one call per (ts, pid, request id). */
	json_object_set_new(r, "request_id", json_string(model));
	json_object_set_new(r, "error",
			    status >= 400 ? json_pack("{s:s}", "type", "rate")
					  : json_null());
	return r;
}

/* Two calls in the store, the same two in metrics and prom; and 7
 * connections evicted, for /healthz's losses. */
static void fill(void)
{
	struct store_opts so = { .path = t.db };
	struct store *s = store_open(&so);
	json_t *recs[2] = { record("gpt-4o", "alice", "sess-1", 200),
			    record("gpt-4o-mini", "bob", NULL, 429) };
	int i;

	assert_non_null(s);
	for (i = 0; i < 2; i++) {
		assert_int_equal(store_add(s, recs[i]), 0);
		assert_int_equal(metrics_add(t.metrics, recs[i], time(NULL)),
				 0);
		assert_int_equal(prom_add(t.prom, recs[i]), 0);
		json_decref(recs[i]);
	}
	assert_int_equal(store_flush(s), 0);
	store_close(s);
	prom_add_loss(t.prom, PROM_LOSS_EVICTED, 7);
}

static int setup(void **state)
{
	struct api_opts o = { .listen = "127.0.0.1:0" };

	snprintf(t.dir, sizeof(t.dir), "/tmp/llmtap-test-api-XXXXXX");
	if (!mkdtemp(t.dir))
		return -1;
	snprintf(t.db, sizeof(t.db), "%s/calls.db", t.dir);
	t.metrics = metrics_new();
	t.prom = prom_new();
	fill();
	o.metrics = t.metrics;
	o.prom = t.prom;
	o.db_path = t.db;
	t.api = api_start(&o);
	return t.api && api_port(t.api) ? 0 : -1;
}

static int teardown(void **state)
{
	char path[128];

	api_stop(t.api);
	metrics_free(t.metrics);
	prom_free(t.prom);
	snprintf(path, sizeof(path), "%s/calls.db", t.dir);
	unlink(path);
	snprintf(path, sizeof(path), "%s/calls.db-wal", t.dir);
	unlink(path);
	snprintf(path, sizeof(path), "%s/calls.db-shm", t.dir);
	unlink(path);
	rmdir(t.dir);
	return 0;
}

/* ---- tests ---- */

static void test_healthz(void **state)
{
	json_t *v = get("/healthz", 200), *losses;

	assert_string_equal(json_string_value(json_object_get(v, "status")),
			    "ok");
	assert_int_equal(json_integer_value(json_object_get(v, "calls")), 2);
	losses = json_object_get(v, "losses");
	assert_true(json_is_object(losses));
	assert_int_equal(json_integer_value(json_object_get(
				 losses, "connections_evicted")), 7);
	assert_true(json_is_true(json_object_get(v, "store")));
	json_decref(v);
}

static void test_prometheus(void **state)
{
	struct reply r;

	request("GET", "/metrics", NULL, &r);
	assert_int_equal(r.status, 200);
	assert_non_null(strcasestr(r.head, "Content-Type: text/plain; "
					   "version=0.0.4"));
	assert_non_null(strstr(r.body, "llmtap_requests_total{provider="
				       "\"openai\",model=\"gpt-4o\","
				       "process=\"curl\"} 1\n"));
	free(r.body);
}

static long long group_requests(json_t *v, const char *name)
{
	json_t *g;
	size_t i;

	json_array_foreach(json_object_get(v, "groups"), i, g) {
		const char *k = json_string_value(json_object_get(g, "group"));

		if (k && !strcmp(k, name))
			return json_integer_value(
				json_object_get(g, "requests"));
	}
	return -1;
}

static void test_live_metrics(void **state)
{
	json_t *v = get("/api/v1/metrics?by=model&window=1m", 200);

	assert_string_equal(json_string_value(json_object_get(v, "window")),
			    "1m");
	assert_int_equal(group_requests(v, "gpt-4o"), 1);
	assert_int_equal(group_requests(v, "gpt-4o-mini"), 1);
	json_decref(v);

	v = get("/api/v1/metrics?by=user_id&user=bob", 200);
	assert_int_equal(json_array_size(json_object_get(v, "groups")), 1);
	assert_int_equal(group_requests(v, "bob"), 1);
	json_decref(v);

	v = get("/api/v1/metrics?property=Environment:prod", 200);
	assert_int_equal(group_requests(v, "all"), 2);
	json_decref(v);

	expect_error("/api/v1/metrics?window=5m", 400);
	expect_error("/api/v1/metrics?by=colour", 400);
	expect_error("/api/v1/metrics?colour=red", 400);
	expect_error("/api/v1/metrics?property=novalue", 400);
	expect_error("/api/v1/metrics?uid=-7", 400);
}

static void test_store_endpoints(void **state)
{
	json_t *v = get("/api/v1/calls?limit=1", 200);

	assert_int_equal(json_array_size(json_object_get(v, "calls")), 1);
	assert_int_equal(json_integer_value(json_object_get(v, "total")), 2);
	json_decref(v);

	v = get("/api/v1/calls?user=alice&since=1700000000", 200);
	assert_int_equal(json_integer_value(json_object_get(v, "total")), 1);
	json_decref(v);

	v = get("/api/v1/users?top=5", 200);
	assert_int_equal(json_array_size(json_object_get(v, "users")), 2);
	json_decref(v);
	v = get("/api/v1/users?os=1", 200);
	assert_int_equal(json_array_size(json_object_get(v, "users")), 1);
	json_decref(v);

	v = get("/api/v1/sessions", 200);
	assert_true(json_is_array(json_object_get(v, "sessions")));
	json_decref(v);
	v = get("/api/v1/sessions/sess-1", 200);
	assert_string_equal(json_string_value(json_object_get(v, "id")),
			    "sess-1");
	json_decref(v);
	v = get("/api/v1/cache", 200);
	assert_true(json_is_object(v));
	json_decref(v);
}

static void test_bad_requests(void **state)
{
	struct reply r;
	char *big;

	expect_error("/api/v1/sessions/no-such-session", 404);
	expect_error("/api/v1/nothing", 404);
	expect_error("/api/v1/calls?limit=0", 400);
	expect_error("/api/v1/calls?limit=abc", 400);
	expect_error("/api/v1/calls?offset=-1", 400);
	expect_error("/api/v1/calls?since=-5", 400);
	expect_error("/api/v1/calls?since=5y", 400);
	expect_error("/api/v1/users?os=2", 400);
	expect_error("/api/v1/sessions?top=99999999999999999999", 400);

	request("POST", "/healthz", "Content-Length: 3\r\n", &r);
	assert_int_equal(r.status, 405);
	assert_non_null(strcasestr(r.head, "Allow: GET"));
	free(r.body);

	/* A query over the limit, then a header over the connection's
	 * memory: refused, and the server still answers after. */
	big = malloc(API_CONN_MEMORY * 2);
	assert_non_null(big);
	memset(big, 'a', API_CONN_MEMORY * 2 - 1);
	big[API_CONN_MEMORY * 2 - 1] = '\0';
	memcpy(big, "/api/v1/calls?user=", 19);
	big[API_MAX_QUERY_BYTES + 100] = '\0';
	request("GET", big, NULL, &r);
	assert_int_equal(r.status, 414);
	free(r.body);
	big[API_MAX_QUERY_BYTES + 100] = 'a';
	request("GET", big, NULL, &r);
	assert_true(r.status == 414 || r.status == 431 || r.status == 0);
	free(r.body);
	free(big);
	json_decref(get("/healthz", 200));
}

static void test_without_store(void **state)
{
	struct api_opts o = { .listen = "127.0.0.1:0", .metrics = t.metrics,
			      .prom = t.prom };
	struct api *with = t.api;

	t.api = api_start(&o);
	assert_non_null(t.api);
	expect_error("/api/v1/calls", 503);
	expect_error("/api/v1/sessions/sess-1", 503);
	json_decref(get("/api/v1/metrics?by=model", 200));
	api_stop(t.api);
	t.api = with;
}

#define TOKEN "s3cret-token-0123456789"

/* Writes text to a file of the fixture's directory; returns its path. */
static const char *token_file(const char *text)
{
	static char path[128];
	FILE *f;

	snprintf(path, sizeof(path), "%s/token", t.dir);
	f = fopen(path, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
	chmod(path, 0600);
	return path;
}

static int status_of(const char *target, const char *extra)
{
	struct reply r;

	request("GET", target, extra, &r);
	free(r.body);
	return r.status;
}

static void test_token(void **state)
{
	struct api_opts o = { .listen = "127.0.0.1:0", .metrics = t.metrics,
			      .prom = t.prom, .db_path = t.db };
	struct api *open_api = t.api;
	char *token;
	struct reply r;

	assert_int_equal(api_token_load(token_file(TOKEN "\n"), &token), 0);
	assert_string_equal(token, TOKEN);
	o.token = token;
	t.api = api_start(&o);
	api_token_free(token);	/* the API must not need it after */
	assert_non_null(t.api);

	request("GET", "/api/v1/calls", NULL, &r);
	assert_int_equal(r.status, 401);
	assert_non_null(strcasestr(r.head, "WWW-Authenticate: Bearer"));
	assert_non_null(strstr(r.body, "\"error\""));
	free(r.body);
	assert_int_equal(status_of("/healthz", "Authorization: Bearer "
				   "s3cret-token-012345678X\r\n"), 401);
	assert_int_equal(status_of("/metrics", "Authorization: Bearer "
				   TOKEN "x\r\n"), 401);
	assert_int_equal(status_of("/metrics", "Authorization: Basic "
				   TOKEN "\r\n"), 401);
	assert_int_equal(status_of("/api/v1/calls", "Authorization: Bearer "
				   TOKEN "\r\n"), 200);
	assert_int_equal(status_of("/healthz", "authorization: bearer "
				   TOKEN "\r\n"), 200);
	/* The dashboard's files hold no data; its script sends the token. */
	assert_int_equal(status_of("/", NULL), 200);
	api_stop(t.api);
	t.api = open_api;
}

static void test_token_refused(void **state)
{
	struct api_opts o = { .listen = "192.0.2.1:0", .metrics = t.metrics,
			      .prom = t.prom };
	char *token = (char *)1;

	/* Beyond loopback without a token: refused before binding. */
	assert_null(api_start(&o));
	o.listen = "0.0.0.0:0";
	assert_null(api_start(&o));
	/* Short, empty, missing or spaced tokens are errors. */
	assert_int_equal(api_token_load(token_file("short\n"), &token),
			 -EINVAL);
	assert_null(token);
	assert_int_equal(api_token_load(token_file(""), &token), -EINVAL);
	assert_int_equal(api_token_load(token_file("a b c d e f g h i j\n"),
					&token), -EINVAL);
	assert_true(api_token_load("/nonexistent/token", &token) < 0);
	/* Neither a file nor the environment: no token, no error. */
	unsetenv(API_TOKEN_ENV);
	assert_int_equal(api_token_load(NULL, &token), 0);
	assert_null(token);
	setenv(API_TOKEN_ENV, TOKEN, 1);
	assert_int_equal(api_token_load(NULL, &token), 0);
	assert_string_equal(token, TOKEN);
	assert_null(getenv(API_TOKEN_ENV));
	api_token_free(token);
	unlink(token_file(""));
}

static void test_bad_listen(void **state)
{
	static const char *const bad[] = {
		"127.0.0.1", "localhost:80", "127.0.0.1:99999",
		"127.0.0.1:", "::1:80", "127.0.0.1:80x",
	};
	struct api_opts o = { .metrics = t.metrics, .prom = t.prom };
	char taken[32];
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		o.listen = bad[i];
		assert_null(api_start(&o));
	}
	/* The port the fixture holds. */
	snprintf(taken, sizeof(taken), "127.0.0.1:%u", api_port(t.api));
	o.listen = taken;
	assert_null(api_start(&o));
	/* A store that is not there. */
	o.listen = "127.0.0.1:0";
	o.db_path = "/nonexistent/llmtap.db";
	assert_null(api_start(&o));
	api_stop(NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_healthz),
		cmocka_unit_test(test_prometheus),
		cmocka_unit_test(test_live_metrics),
		cmocka_unit_test(test_store_endpoints),
		cmocka_unit_test(test_bad_requests),
		cmocka_unit_test(test_without_store),
		cmocka_unit_test(test_bad_listen),
		cmocka_unit_test(test_token),
		cmocka_unit_test(test_token_refused),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
