// SPDX-License-Identifier: MIT
/*
 * The whole stage: exchanges in, JSON lines out to a file, read back
 * and checked, and searched for the credentials the requests carried.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "calls.h"

#define T0 1700000000123456789ull	/* 2023-11-14T22:13:20.123456Z */
#define MS 1000000ull

static const char *const secrets[] = {
	"sk-proj-SECRETsecretSECRETsecret0001",
	"sk-ant-" "api03-SECRETsecretSECRETsecret0002",
	"AIza" "SyDSECRETsecretSECRETsecret00000003",
	"session=SECRET0004",
};

static struct http_exchange *mkex(const char *host, const char *path,
				  const char *req)
{
	struct http_exchange *ex = exchange_new();

	ex->http_version = 20;
	ex->method = strdup("POST");
	ex->path = strdup(path);
	ex->authority = strdup(host);
	ex->ts_req_start = T0;
	ex->task.pid = 4242;
	ex->task.uid = 1000;
	memcpy(ex->task.comm, "python3", 8);
	strcpy(ex->proc.exe, "/usr/bin/python3.11");
	strcpy(ex->proc.user, "alice");
	body_append(&ex->req_body, (const uint8_t *)req, strlen(req), T0);
	return ex;
}

static void hdr(struct hdr_list *l, const char *n, const char *v)
{
	assert_int_equal(hdr_list_add(l, n, strlen(n), v, strlen(v)), 0);
}

static void seg(struct http_exchange *ex, uint64_t ms, const char *s)
{
	if (!ex->ts_resp_start)
		ex->ts_resp_start = T0 + ms * MS;
	body_append(&ex->resp_body, (const uint8_t *)s, strlen(s),
		    T0 + ms * MS);
	ex->ts_resp_end = T0 + ms * MS;
}

/* An OpenAI chat call carrying every credential and attribution. */
static struct http_exchange *openai_call(void)
{
	struct http_exchange *ex = mkex("api.openai.com",
		"/v1/chat/completions?key=AIza" "SyDSECRETsecretSECRETsecret00000003",
		"{\"model\":\"gpt-4o-mini\",\"user\":\"body-user\",\"messages\":"
		"[{\"role\":\"user\",\"content\":\"my key is "
		"sk-proj-SECRETsecretSECRETsecret0001\"}]}");

	hdr(&ex->req_headers, "Authorization",
	    "Bearer sk-proj-SECRETsecretSECRETsecret0001");
	hdr(&ex->req_headers, "x-api-key",
	    "sk-ant-" "api03-SECRETsecretSECRETsecret0002");
	hdr(&ex->req_headers, "x-goog-api-key",
	    "AIza" "SyDSECRETsecretSECRETsecret00000003");
	hdr(&ex->req_headers, "Cookie", "session=SECRET0004");
	hdr(&ex->req_headers, "Helicone-User-Id", "alice@example.com");
	hdr(&ex->req_headers, "Helicone-Session-Id", "s-1");
	hdr(&ex->req_headers, "Helicone-Session-Path", "/plan/step");
	hdr(&ex->req_headers, "Helicone-Property-Team", "search");
	hdr(&ex->req_headers, "helicone-property-env", "prod");
	ex->status = 200;
	hdr(&ex->resp_headers, "Content-Type", "application/json");
	hdr(&ex->resp_headers, "Set-Cookie", "session=SECRET0004; Secure");
	hdr(&ex->resp_headers, "x-request-id", "req_abc");
	seg(ex, 750, "{\"id\":\"chatcmpl-1\",\"model\":\"gpt-4o-mini-2024-07-18\","
		"\"usage\":{\"prompt_tokens\":1200,\"completion_tokens\":300,"
		"\"prompt_tokens_details\":{\"cached_tokens\":1024}}}");
	return ex;
}

static char *tmp_path(void)
{
	char *p = strdup("/tmp/test_calls_XXXXXX");
	int fd = mkstemp(p);

	assert_true(fd >= 0);
	close(fd);
	unlink(p);
	return p;
}

static char *slurp(const char *path)
{
	FILE *f = fopen(path, "r");
	char *buf = calloc(1, 1 << 20);
	size_t n;

	assert_non_null(f);
	n = fread(buf, 1, (1 << 20) - 1, f);
	buf[n] = '\0';
	fclose(f);
	return buf;
}

static void on_record(void *ctx, json_t *rec)
{
	(*(int *)ctx)++;
	assert_string_equal(json_string_value(json_object_get(rec, "type")),
			    "llm_call");
}

static void check_record(json_t *r)
{
	json_t *u = json_object_get(r, "usage");
	json_t *http = json_object_get(r, "http");
	json_t *proc = json_object_get(r, "process");
	json_t *sess = json_object_get(r, "session");
	json_t *props = json_object_get(r, "properties");

	assert_string_equal(json_string_value(json_object_get(r, "ts")),
			    "2023-11-14T22:13:20.123456Z");
	assert_true(json_real_value(json_object_get(r, "duration_ms")) ==
		    750.0);
	assert_true(json_is_null(json_object_get(r, "ttft_ms")));
	assert_string_equal(json_string_value(json_object_get(r, "provider")),
			    "openai");
	assert_string_equal(json_string_value(json_object_get(r, "operation")),
			    "chat");
	assert_string_equal(json_string_value(json_object_get(http, "version")),
			    "2");
	assert_string_equal(json_string_value(json_object_get(http, "path")),
			    "/v1/chat/completions?key=[REDACTED]");
	assert_int_equal(json_integer_value(json_object_get(http, "status")),
			 200);
	assert_int_equal(json_integer_value(json_object_get(proc, "pid")),
			 4242);
	assert_string_equal(json_string_value(json_object_get(proc, "comm")),
			    "python3");
	assert_true(json_is_null(json_object_get(proc, "container")));
	assert_int_equal(json_integer_value(json_object_get(u, "input_tokens")),
			 1200);
	assert_int_equal(json_integer_value(json_object_get(u,
				"total_tokens")), 1500);
	/* 176 * 0.15 + 1024 * 0.075 + 300 * 0.60 = 283.2 per 1e6 */
	assert_true(json_real_value(json_object_get(r, "cost_usd")) > 283.1e-6);
	assert_true(json_real_value(json_object_get(r, "cost_usd")) < 283.3e-6);
	/* The header wins over the body's "user". */
	assert_string_equal(json_string_value(json_object_get(r, "user_id")),
			    "alice@example.com");
	assert_string_equal(json_string_value(json_object_get(sess, "id")),
			    "s-1");
	assert_string_equal(json_string_value(json_object_get(sess, "path")),
			    "/plan/step");
	assert_true(json_is_null(json_object_get(sess, "name")));
	assert_string_equal(json_string_value(json_object_get(props, "Team")),
			    "search");
	assert_string_equal(json_string_value(json_object_get(props, "env")),
			    "prod");
	assert_string_equal(json_string_value(json_object_get(r,
				"request_id")), "req_abc");
	assert_true(json_is_null(json_object_get(r, "error")));
	assert_true(json_is_false(json_object_get(r, "incomplete")));
	assert_true(json_is_string(json_object_get(r, "request_body")));
}

static void test_write_and_redact(void **state)
{
	char *path = tmp_path();
	int seen = 0;
	struct calls_opts o = { .out_path = path, .bodies = true,
				.on_record = on_record,
				.on_record_ctx = &seen };
	struct calls *c = calls_new(&o);
	struct exchange_sink sink = calls_sink(c);
	struct http_exchange *ex = openai_call();
	struct calls_stats st;
	char *text;
	json_t *r;

	assert_non_null(c);
	sink.on_exchange(sink.ctx, ex);
	exchange_free(ex);
	calls_stats(c, &st);
	assert_int_equal(st.exchanges, 1);
	assert_int_equal(st.llm_calls, 1);
	assert_int_equal(seen, 1);
	calls_free(c);

	text = slurp(path);
	assert_int_equal(strchr(text, '\n') - text + 1, (long)strlen(text));
	for (size_t i = 0; i < sizeof(secrets) / sizeof(secrets[0]); i++)
		assert_null(strstr(text, secrets[i]));
	assert_null(strstr(text, "SECRET"));
	r = json_loads(text, 0, NULL);
	assert_non_null(r);
	check_record(r);
	json_decref(r);
	free(text);
	unlink(path);
	free(path);
}

static void test_not_llm_and_stream(void **state)
{
	char *path = tmp_path();
	struct calls_opts o = { .out_path = path };
	struct calls *c = calls_new(&o);
	struct http_exchange *ex = mkex("example.com", "/upload", "x");
	struct calls_stats st;
	char *text;
	json_t *r;

	calls_sink(c).on_exchange(c, ex);
	exchange_free(ex);

	/* An Anthropic stream cut short, with a price-less model. */
	ex = mkex("api.anthropic.com", "/v1/messages",
		  "{\"model\":\"claude-next\",\"stream\":true}");
	ex->status = 200;
	hdr(&ex->resp_headers, "content-type", "text/event-stream");
	seg(ex, 100, "event: message_start\ndata: {\"type\":\"message_start\","
		"\"message\":{\"model\":\"claude-next\",\"usage\":"
		"{\"input_tokens\":9,\"output_tokens\":1}}}\n\n");
	seg(ex, 300, "event: content_block_delta\ndata: {\"type\":"
		"\"content_block_delta\",\"delta\":{\"text\":\"x\"}}\n\n");
	ex->ts_resp_end = 0;
	ex->incomplete = true;
	ex->capture_gap = true;
	strcpy(ex->note, "connection closed");
	calls_sink(c).on_exchange(c, ex);
	exchange_free(ex);

	calls_stats(c, &st);
	assert_int_equal(st.exchanges, 2);
	assert_int_equal(st.not_llm, 1);
	assert_int_equal(st.llm_calls, 1);
	assert_int_equal(st.incomplete, 1);
	assert_int_equal(st.unpriced, 1);
	calls_free(c);

	text = slurp(path);
	r = json_loads(text, 0, NULL);
	assert_non_null(r);
	assert_true(json_is_true(json_object_get(r, "incomplete")));
	assert_true(json_is_true(json_object_get(r, "capture_gap")));
	assert_true(json_is_true(json_object_get(r, "stream")));
	assert_true(json_real_value(json_object_get(r, "ttft_ms")) == 300.0);
	assert_true(json_is_null(json_object_get(r, "cost_usd")));
	assert_true(json_is_null(json_object_get(r, "session")));
	assert_int_equal(json_object_size(json_object_get(r, "properties")),
			 0);
	assert_null(json_object_get(r, "request_body"));
	json_decref(r);
	free(text);
	unlink(path);
	free(path);
}

static void test_rotation(void **state)
{
	char *path = tmp_path();
	char name[256];
	struct calls_opts o = { .out_path = path, .rotate_bytes = 1500,
				.rotate_keep = 2 };
	struct calls *c = calls_new(&o);
	struct stat st;

	for (int i = 0; i < 12; i++) {
		struct http_exchange *ex = openai_call();

		calls_sink(c).on_exchange(c, ex);
		exchange_free(ex);
	}
	calls_free(c);
	assert_int_equal(stat(path, &st), 0);
	assert_true(st.st_size <= 1500);
	assert_int_equal(st.st_mode & 0777, 0600);
	snprintf(name, sizeof(name), "%s.1", path);
	assert_int_equal(stat(name, &st), 0);
	unlink(name);
	snprintf(name, sizeof(name), "%s.2", path);
	assert_int_equal(stat(name, &st), 0);
	unlink(name);
	snprintf(name, sizeof(name), "%s.3", path);
	assert_int_not_equal(stat(name, &st), 0);
	unlink(path);
	free(path);
}

static void test_bad_pricing(void **state)
{
	struct calls_opts o = { .out_path = "/dev/null",
				.pricing_path = "/nonexistent.json" };

	assert_null(calls_new(&o));
	calls_free(NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_write_and_redact),
		cmocka_unit_test(test_not_llm_and_stream),
		cmocka_unit_test(test_rotation),
		cmocka_unit_test(test_bad_pricing),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
