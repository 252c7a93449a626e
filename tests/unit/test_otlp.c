// SPDX-License-Identifier: MIT
/*
 * The OTLP span made from an llm_call record: ids, name, kind, times,
 * status and the GenAI and llmtap attributes with their OTLP/JSON
 * value types; the request that wraps spans; --otlp-header checks.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "otlp.h"

static const uint8_t trace_id[OTLP_TRACE_ID_LEN] = {
	0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef,
	0xfe, 0xdc, 0xba, 0x98, 0x76, 0x54, 0x32, 0x10,
};
static const uint8_t span_id[OTLP_SPAN_ID_LEN] = {
	0xa0, 0xb1, 0xc2, 0xd3, 0xe4, 0xf5, 0x06, 0x17,
};

/* The README's example record. */
static const char sample[] =
	"{\"type\":\"llm_call\",\"ts\":\"2026-12-03T16:42:14.018161Z\","
	"\"duration_ms\":41.97,\"ttft_ms\":12.5,\"process\":{\"pid\":13609,"
	"\"comm\":\"curl\",\"exe\":\"/usr/bin/curl\",\"uid\":0,"
	"\"user\":\"root\",\"container\":null},\"http\":{\"version\":\"1.1\","
	"\"method\":\"POST\",\"host\":\"localhost:41925\","
	"\"path\":\"/v1/chat/completions\",\"status\":200},"
	"\"provider\":\"openai\",\"operation\":\"chat\","
	"\"model\":\"gpt-4o-mini-2024-07-18\","
	"\"response_model\":\"gpt-4o-mini-2024-07-18\",\"stream\":false,"
	"\"usage\":{\"input_tokens\":120,\"output_tokens\":30,"
	"\"cached_input_tokens\":20,\"cache_write_tokens\":0,"
	"\"reasoning_tokens\":5,\"total_tokens\":150},\"cost_usd\":3.45e-5,"
	"\"user_id\":\"alice\",\"session\":{\"id\":\"sess-1\","
	"\"path\":\"/plan/step1\",\"name\":\"planner\",\"inferred\":false},"
	"\"properties\":{\"Environment\":\"production\"},"
	"\"request_id\":\"req_mock1\",\"error\":null,\"incomplete\":false}";

static json_t *load(const char *text)
{
	json_t *r = json_loads(text, 0, NULL);

	assert_non_null(r);
	return r;
}

/* The value object of attribute key, checking it appears once. */
static json_t *attr(const json_t *span, const char *key)
{
	const json_t *attrs = json_object_get(span, "attributes");
	json_t *found = NULL, *a;
	size_t i;

	json_array_foreach(attrs, i, a) {
		if (strcmp(json_string_value(json_object_get(a, "key")), key))
			continue;
		assert_null(found);
		found = json_object_get(a, "value");
		assert_int_equal(json_object_size(found), 1);
	}
	return found;
}

static const char *attr_as(const json_t *span, const char *key,
			   const char *type)
{
	json_t *v = attr(span, key);

	assert_non_null(v);
	assert_true(json_is_string(json_object_get(v, type)));
	return json_string_value(json_object_get(v, type));
}

static void check_str(const json_t *span, const char *key, const char *want)
{
	assert_string_equal(attr_as(span, key, "stringValue"), want);
}

static void check_int(const json_t *span, const char *key, const char *want)
{
	assert_string_equal(attr_as(span, key, "intValue"), want);
}

static double get_double(const json_t *span, const char *key)
{
	json_t *v = attr(span, key);

	assert_non_null(v);
	assert_true(json_is_real(json_object_get(v, "doubleValue")));
	return json_real_value(json_object_get(v, "doubleValue"));
}

static void test_span_shape(void **state)
{
	json_t *rec = load(sample);
	json_t *span = otlp_span(rec, trace_id, span_id);

	assert_non_null(span);
	assert_string_equal(json_string_value(json_object_get(span, "traceId")),
			    "0123456789abcdeffedcba9876543210");
	assert_string_equal(json_string_value(json_object_get(span, "spanId")),
			    "a0b1c2d3e4f50617");
	assert_string_equal(json_string_value(json_object_get(span, "name")),
			    "chat gpt-4o-mini-2024-07-18");
	assert_int_equal(json_integer_value(json_object_get(span, "kind")), 3);
	/* timegm(2026-12-03 16:42:14) s, then 18161 µs; + 41.97 ms. */
	assert_string_equal(json_string_value(json_object_get(
				    span, "startTimeUnixNano")),
			    "1796316134018161000");
	assert_string_equal(json_string_value(json_object_get(
				    span, "endTimeUnixNano")),
			    "1796316134060131000");
	assert_int_equal(json_object_size(json_object_get(span, "status")), 0);
	json_decref(span);
	json_decref(rec);
}

static void test_span_attributes(void **state)
{
	json_t *rec = load(sample);
	json_t *span = otlp_span(rec, trace_id, span_id);

	check_str(span, "gen_ai.system", "openai");
	check_str(span, "gen_ai.operation.name", "chat");
	check_str(span, "gen_ai.request.model", "gpt-4o-mini-2024-07-18");
	check_str(span, "gen_ai.response.model", "gpt-4o-mini-2024-07-18");
	check_str(span, "gen_ai.response.id", "req_mock1");
	check_int(span, "gen_ai.usage.input_tokens", "120");
	check_int(span, "gen_ai.usage.output_tokens", "30");
	check_str(span, "server.address", "localhost");
	check_int(span, "server.port", "41925");
	check_int(span, "http.response.status_code", "200");
	assert_float_equal(get_double(span, "llmtap.cost_usd"), 3.45e-5, 1e-15);
	assert_float_equal(get_double(span, "llmtap.ttft_ms"), 12.5, 1e-9);
	check_str(span, "llmtap.user_id", "alice");
	check_str(span, "llmtap.session.id", "sess-1");
	check_int(span, "llmtap.process.pid", "13609");
	check_str(span, "llmtap.process.comm", "curl");
	check_str(span, "llmtap.process.exe", "/usr/bin/curl");
	check_str(span, "llmtap.property.Environment", "production");
	assert_true(json_is_false(json_object_get(attr(span, "llmtap.stream"),
						  "boolValue")));
	assert_null(attr(span, "error.type"));
	json_decref(span);
	json_decref(rec);
}

/* A failed call: status ERROR with the provider's message and type;
 * absent values leave their attributes out. */
static void test_span_error(void **state)
{
	json_t *rec = load("{\"ts\":\"2025-01-01T00:00:00Z\",\"duration_ms\":5,"
			   "\"ttft_ms\":null,\"provider\":\"gemini\","
			   "\"operation\":\"embed_content\",\"model\":null,"
			   "\"http\":{\"host\":\"[::1]:8443\",\"status\":429},"
			   "\"usage\":null,\"cost_usd\":null,\"error\":{"
			   "\"type\":\"RESOURCE_EXHAUSTED\","
			   "\"message\":\"quota\"}}");
	json_t *span = otlp_span(rec, trace_id, span_id);
	json_t *status = json_object_get(span, "status");

	assert_string_equal(json_string_value(json_object_get(span, "name")),
			    "embeddings");
	assert_int_equal(json_integer_value(json_object_get(status, "code")),
			 2);
	assert_string_equal(json_string_value(json_object_get(status,
							      "message")),
			    "quota");
	check_str(span, "error.type", "RESOURCE_EXHAUSTED");
	check_str(span, "gen_ai.system", "gcp.gemini");
	check_str(span, "server.address", "::1");
	check_int(span, "server.port", "8443");
	check_int(span, "http.response.status_code", "429");
	assert_null(attr(span, "gen_ai.request.model"));
	assert_null(attr(span, "gen_ai.usage.input_tokens"));
	assert_null(attr(span, "llmtap.cost_usd"));
	assert_null(attr(span, "llmtap.ttft_ms"));
	json_decref(span);
	json_decref(rec);
}

/* A 5xx without an error body is still an error, typed by status; a
 * call with no response has no status code attribute. */
static void test_span_status_only(void **state)
{
	json_t *rec = load("{\"ts\":\"2025-01-01T00:00:00.5Z\","
			   "\"provider\":\"anthropic\",\"operation\":"
			   "\"messages\",\"model\":\"claude\",\"http\":{"
			   "\"host\":\"api.anthropic.com\",\"status\":503},"
			   "\"error\":null}");
	json_t *span = otlp_span(rec, trace_id, span_id);

	check_str(span, "error.type", "503");
	check_str(span, "gen_ai.operation.name", "chat");
	check_str(span, "llmtap.operation", "messages");
	check_str(span, "server.address", "api.anthropic.com");
	assert_null(attr(span, "server.port"));
	assert_string_equal(json_string_value(json_object_get(
				    span, "endTimeUnixNano")),
			    "1735689600500000000");
	json_decref(span);
	json_decref(rec);

	rec = load("{\"provider\":\"openai\",\"http\":{\"status\":0},"
		   "\"error\":null}");
	span = otlp_span(rec, trace_id, span_id);
	assert_null(attr(span, "http.response.status_code"));
	assert_null(attr(span, "error.type"));
	json_decref(span);
	json_decref(rec);
}

static void test_request(void **state)
{
	json_t *spans = json_pack("[{s:s}]", "name", "x");
	json_t *req = otlp_request(spans, "host-1");
	json_t *rs = json_array_get(json_object_get(req, "resourceSpans"), 0);
	json_t *res = json_object_get(rs, "resource");
	json_t *ss = json_array_get(json_object_get(rs, "scopeSpans"), 0);

	assert_non_null(ss);
	check_str(res, "service.name", "llmtap");
	check_str(res, "host.name", "host-1");
	assert_string_equal(json_string_value(json_object_get(
				    json_object_get(ss, "scope"), "name")),
			    "llmtap");
	assert_ptr_equal(json_object_get(ss, "spans"), spans);
	json_decref(req);
}

static void test_headers(void **state)
{
	struct otlp_opts o = { 0 };
	int i;

	assert_int_equal(otlp_add_header(&o, "Authorization:Bearer t"), 0);
	assert_int_equal(otlp_add_header(&o, "x-scope-orgid: a b"), 0);
	assert_int_equal(o.nheaders, 2);
	assert_int_not_equal(otlp_add_header(&o, "no-colon"), 0);
	assert_int_not_equal(otlp_add_header(&o, ":v"), 0);
	assert_int_not_equal(otlp_add_header(&o, "bad name:v"), 0);
	assert_int_not_equal(otlp_add_header(&o, "k:v\r\nX-Evil: 1"), 0);
	assert_int_equal(o.nheaders, 2);
	for (i = 2; i < OTLP_HEADERS_MAX; i++)
		assert_int_equal(otlp_add_header(&o, "k:v"), 0);
	assert_int_not_equal(otlp_add_header(&o, "k:v"), 0);
}

static void test_bad_url(void **state)
{
	struct otlp_opts o = { .url = "ftp://127.0.0.1/" };

	assert_null(otlp_new(&o));
	o.url = NULL;
	assert_null(otlp_new(&o));
	otlp_free(NULL);
}

/* A full queue drops its oldest spans and counts them; stopping gives
 * up on the rest once its time is spent. Nothing listens on port 1. */
static void test_queue_drops_oldest(void **state)
{
	struct otlp_opts o = { .url = "http://127.0.0.1:1/v1/traces",
			       .queue_max = 2, .batch_max = 100,
			       .flush_ms = 600000, .shutdown_ms = 1 };
	json_t *rec = load(sample);
	struct otlp_stats st;
	struct otlp *x = otlp_new(&o);
	int i;

	assert_non_null(x);
	for (i = 0; i < 5; i++)
		otlp_add(x, rec);
	otlp_stats(x, &st);
	assert_int_equal(st.queued, 5);
	assert_int_equal(st.dropped, 3);
	assert_int_equal(st.sent, 0);
	otlp_free(x);
	json_decref(rec);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_span_shape),
		cmocka_unit_test(test_span_attributes),
		cmocka_unit_test(test_span_error),
		cmocka_unit_test(test_span_status_only),
		cmocka_unit_test(test_request),
		cmocka_unit_test(test_headers),
		cmocka_unit_test(test_bad_url),
		cmocka_unit_test(test_queue_drops_oldest),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
