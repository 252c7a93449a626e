// SPDX-License-Identifier: MIT
/*
 * Provider recognition and body reading, on exchanges built by hand
 * from the providers' documented request and response formats.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "calls.h"
#include "provider.h"

#define T0 1700000000000000000ull
#define MS 1000000ull

static struct http_exchange *mkex(const char *host, const char *path,
				  const char *req)
{
	struct http_exchange *ex = exchange_new();

	assert_non_null(ex);
	ex->http_version = 11;
	ex->method = strdup("POST");
	ex->path = strdup(path);
	ex->authority = host ? strdup(host) : NULL;
	ex->ts_req_start = T0;
	ex->ts_req_end = T0 + 1 * MS;
	if (req)
		assert_int_equal(body_append(&ex->req_body,
					     (const uint8_t *)req,
					     strlen(req), T0), 0);
	return ex;
}

static void hdr(struct hdr_list *l, const char *n, const char *v)
{
	assert_int_equal(hdr_list_add(l, n, strlen(n), v, strlen(v)), 0);
}

/* One arrival of response bytes at T0 + ms. */
static void seg(struct http_exchange *ex, uint64_t ms, const char *s)
{
	if (!ex->ts_resp_start)
		ex->ts_resp_start = T0 + ms * MS;
	assert_int_equal(body_append(&ex->resp_body, (const uint8_t *)s,
				     strlen(s), T0 + ms * MS), 0);
}

static void respond(struct http_exchange *ex, int status, const char *ct)
{
	ex->status = status;
	hdr(&ex->resp_headers, "Content-Type", ct);
}

static void analyze(struct http_exchange *ex, struct llm_call *c)
{
	assert_int_equal(provider_analyze(ex, c), 0);
}

/* --- OpenAI ---------------------------------------------------------- */

static void test_openai_chat(void **state)
{
	struct http_exchange *ex = mkex("api.openai.com",
		"/v1/chat/completions",
		"{\"model\":\"gpt-4o-mini\",\"user\":\"user-42\","
		"\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}");
	struct llm_call c;

	respond(ex, 200, "application/json");
	hdr(&ex->resp_headers, "x-request-id", "req_123");
	seg(ex, 800, "{\"id\":\"chatcmpl-abc\",\"object\":\"chat.completion\","
		"\"model\":\"gpt-4o-mini-2024-07-18\",\"choices\":[{\"index\":0,"
		"\"message\":{\"role\":\"assistant\",\"content\":\"Hello\"},"
		"\"finish_reason\":\"stop\"}],\"usage\":{\"prompt_tokens\":1200,"
		"\"completion_tokens\":300,\"total_tokens\":1500,"
		"\"prompt_tokens_details\":{\"cached_tokens\":1024},"
		"\"completion_tokens_details\":{\"reasoning_tokens\":0}}}");
	ex->ts_resp_end = T0 + 812 * MS;
	analyze(ex, &c);
	assert_string_equal(c.provider, "openai");
	assert_string_equal(c.operation, "chat");
	assert_string_equal(c.model, "gpt-4o-mini");
	assert_string_equal(c.response_model, "gpt-4o-mini-2024-07-18");
	assert_string_equal(c.user_id, "user-42");
	assert_string_equal(c.request_id, "req_123");
	assert_false(c.stream);
	assert_false(c.has_ttft);
	assert_true(c.has_usage);
	assert_int_equal(c.usage.input_tokens, 1200);
	assert_int_equal(c.usage.output_tokens, 300);
	assert_int_equal(c.usage.cached_input_tokens, 1024);
	assert_int_equal(c.usage.reasoning_tokens, 0);
	assert_int_equal(c.usage.total_tokens, 1500);
	assert_int_equal(c.duration_ns, 812 * MS);
	assert_null(c.err_type);
	llm_call_clear(&c);
	exchange_free(ex);
}

static struct http_exchange *openai_stream(bool with_usage)
{
	struct http_exchange *ex = mkex("api.openai.com",
		"/v1/chat/completions",
		"{\"model\":\"gpt-4o\",\"stream\":true,"
		"\"stream_options\":{\"include_usage\":true},"
		"\"messages\":[]}");

	respond(ex, 200, "text/event-stream; charset=utf-8");
	seg(ex, 100, "data: {\"id\":\"chatcmpl-1\",\"model\":\"gpt-4o-2024-08-06\""
		",\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\","
		"\"content\":\"\"}}],\"usage\":null}\n\n");
	/* The first content event arrives split over two reads. */
	seg(ex, 200, "data: {\"id\":\"chatcmpl-1\",\"choices\":[{\"index\":0,"
		"\"delta\":{\"cont");
	seg(ex, 250, "ent\":\"Hel\"}}],\"usage\":null}\n\n");
	seg(ex, 300, "data: {\"id\":\"chatcmpl-1\",\"choices\":[{\"index\":0,"
		"\"delta\":{\"content\":\"lo\"},\"finish_reason\":\"stop\"}],"
		"\"usage\":null}\n\n");
	if (with_usage)
		seg(ex, 400, "data: {\"id\":\"chatcmpl-1\",\"choices\":[],"
			"\"usage\":{\"prompt_tokens\":20,\"completion_tokens\":"
			"2,\"total_tokens\":22,\"prompt_tokens_details\":"
			"{\"cached_tokens\":0}}}\n\n");
	seg(ex, 410, "data: [DONE]\n\n");
	ex->ts_resp_end = T0 + 410 * MS;
	return ex;
}

static void test_openai_stream_usage(void **state)
{
	struct http_exchange *ex = openai_stream(true);
	struct llm_call c;

	analyze(ex, &c);
	assert_true(c.stream);
	assert_true(c.has_ttft);
	assert_int_equal(c.ttft_ns, 250 * MS);
	assert_string_equal(c.model, "gpt-4o");
	assert_string_equal(c.response_model, "gpt-4o-2024-08-06");
	assert_true(c.has_usage);
	assert_int_equal(c.usage.input_tokens, 20);
	assert_int_equal(c.usage.output_tokens, 2);
	assert_int_equal(c.usage.total_tokens, 22);
	assert_string_equal(c.request_id, "chatcmpl-1");
	assert_int_equal(c.events, 5);
	llm_call_clear(&c);
	exchange_free(ex);
}

static void test_openai_stream_no_usage(void **state)
{
	struct http_exchange *ex = openai_stream(false);
	struct llm_call c;

	analyze(ex, &c);
	assert_true(c.stream);
	assert_false(c.has_usage);
	assert_int_equal(c.usage.input_tokens, 0);
	assert_int_equal(c.ttft_ns, 250 * MS);
	llm_call_clear(&c);
	exchange_free(ex);
}

static void test_openai_stream_incomplete(void **state)
{
	struct http_exchange *ex = mkex("api.openai.com",
		"/v1/chat/completions", "{\"model\":\"gpt-4o\",\"stream\":true}");
	struct llm_call c;

	respond(ex, 200, "text/event-stream");
	seg(ex, 150, "data: {\"choices\":[{\"delta\":{\"content\":\"A\"}}]}\n\n");
	seg(ex, 180, "data: {\"choices\":[{\"delta\":{\"content\":\"B\"}}");
	ex->incomplete = true;
	analyze(ex, &c);
	assert_false(c.has_usage);
	assert_int_equal(c.ttft_ns, 150 * MS);
	/* No end seen: the last arrival ends it. */
	assert_int_equal(c.duration_ns, 180 * MS);
	assert_null(c.err_type);
	llm_call_clear(&c);
	exchange_free(ex);
}

static void test_openai_responses_stream(void **state)
{
	struct http_exchange *ex = mkex("api.openai.com", "/v1/responses",
		"{\"model\":\"o4-mini\",\"input\":\"hi\",\"stream\":true}");
	struct llm_call c;

	respond(ex, 200, "text/event-stream");
	seg(ex, 90, "event: response.created\ndata: {\"type\":"
		"\"response.created\",\"response\":{\"id\":\"resp_1\","
		"\"model\":\"o4-mini-2025-04-16\",\"usage\":null}}\n\n");
	seg(ex, 95, "event: response.output_text.delta\ndata: {\"type\":"
		"\"response.output_text.delta\",\"delta\":\"\"}\n\n");
	seg(ex, 700, "event: response.output_text.delta\ndata: {\"type\":"
		"\"response.output_text.delta\",\"delta\":\"Hi\"}\n\n");
	seg(ex, 720, "event: response.completed\ndata: {\"type\":"
		"\"response.completed\",\"response\":{\"id\":\"resp_1\","
		"\"model\":\"o4-mini-2025-04-16\",\"error\":null,\"usage\":{"
		"\"input_tokens\":50,\"input_tokens_details\":{"
		"\"cached_tokens\":10},\"output_tokens\":120,"
		"\"output_tokens_details\":{\"reasoning_tokens\":64},"
		"\"total_tokens\":170}}}\n\n");
	analyze(ex, &c);
	assert_string_equal(c.operation, "responses");
	assert_int_equal(c.ttft_ns, 700 * MS);
	assert_int_equal(c.usage.input_tokens, 50);
	assert_int_equal(c.usage.cached_input_tokens, 10);
	assert_int_equal(c.usage.output_tokens, 120);
	assert_int_equal(c.usage.reasoning_tokens, 64);
	assert_int_equal(c.usage.total_tokens, 170);
	assert_string_equal(c.response_model, "o4-mini-2025-04-16");
	assert_string_equal(c.request_id, "resp_1");
	assert_null(c.err_type);
	llm_call_clear(&c);
	exchange_free(ex);
}

static void test_openai_responses_failed(void **state)
{
	struct http_exchange *ex = mkex("api.openai.com", "/v1/responses",
		"{\"model\":\"gpt-4.1\",\"stream\":true}");
	struct llm_call c;

	respond(ex, 200, "text/event-stream");
	seg(ex, 90, "event: response.failed\ndata: {\"type\":"
		"\"response.failed\",\"response\":{\"id\":\"resp_2\","
		"\"model\":\"gpt-4.1\",\"error\":{\"code\":\"server_error\","
		"\"message\":\"The model failed\"}}}\n\n");
	analyze(ex, &c);
	assert_string_equal(c.err_type, "server_error");
	assert_string_equal(c.err_message, "The model failed");
	llm_call_clear(&c);
	exchange_free(ex);
}

static void test_openai_embeddings(void **state)
{
	struct http_exchange *ex = mkex("api.openai.com", "/v1/embeddings",
		"{\"model\":\"text-embedding-3-small\",\"input\":\"hello\"}");
	struct llm_call c;

	respond(ex, 200, "application/json");
	seg(ex, 30, "{\"object\":\"list\",\"data\":[{\"object\":\"embedding\","
		"\"index\":0,\"embedding\":[0.1,-0.2]}],\"model\":"
		"\"text-embedding-3-small\",\"usage\":{\"prompt_tokens\":8,"
		"\"total_tokens\":8}}");
	analyze(ex, &c);
	assert_string_equal(c.operation, "embeddings");
	assert_int_equal(c.usage.input_tokens, 8);
	assert_int_equal(c.usage.output_tokens, 0);
	assert_int_equal(c.usage.total_tokens, 8);
	llm_call_clear(&c);
	exchange_free(ex);
}

static void test_openai_429(void **state)
{
	struct http_exchange *ex = mkex("api.openai.com",
		"/v1/chat/completions", "{\"model\":\"gpt-4o\"}");
	struct llm_call c;

	respond(ex, 429, "application/json");
	seg(ex, 40, "{\"error\":{\"message\":\"Rate limit reached\","
		"\"type\":\"requests\",\"param\":null,"
		"\"code\":\"rate_limit_exceeded\"}}");
	analyze(ex, &c);
	assert_string_equal(c.err_type, "requests");
	assert_string_equal(c.err_message, "Rate limit reached");
	assert_false(c.has_usage);
	llm_call_clear(&c);
	exchange_free(ex);
}

static void test_openai_500_not_json(void **state)
{
	struct http_exchange *ex = mkex("api.openai.com",
		"/v1/chat/completions", "{\"model\":\"gpt-4o\"}");
	struct llm_call c;

	respond(ex, 500, "text/html");
	seg(ex, 40, "<html>upstream connect error</html>");
	analyze(ex, &c);
	assert_string_equal(c.err_type, "http_error");
	assert_string_equal(c.err_message, "HTTP 500");
	llm_call_clear(&c);
	exchange_free(ex);
}

static void test_azure(void **state)
{
	struct http_exchange *ex = mkex("myres.openai.azure.com",
		"/openai/deployments/prod-gpt/chat/completions"
		"?api-version=2024-10-21", "{\"messages\":[]}");
	struct llm_call c;

	respond(ex, 200, "application/json");
	hdr(&ex->resp_headers, "apim-request-id", "az-1");
	seg(ex, 40, "{\"id\":\"x\",\"model\":\"gpt-4o-2024-08-06\","
		"\"usage\":{\"prompt_tokens\":5,\"completion_tokens\":7}}");
	analyze(ex, &c);
	assert_string_equal(c.provider, "azure");
	assert_string_equal(c.model, "gpt-4o-2024-08-06");
	assert_string_equal(c.request_id, "az-1");
	assert_int_equal(c.usage.total_tokens, 12);
	llm_call_clear(&c);
	exchange_free(ex);

	/* A refused call names no model: the deployment stands in. */
	ex = mkex("myres.openai.azure.com",
		  "/openai/deployments/prod-gpt/chat/completions", "{}");
	respond(ex, 429, "application/json");
	seg(ex, 40, "{\"error\":{\"code\":\"429\",\"message\":\"Slow down\"}}");
	analyze(ex, &c);
	assert_string_equal(c.model, "prod-gpt");
	assert_string_equal(c.err_type, "429");
	llm_call_clear(&c);
	exchange_free(ex);
}

/* --- Anthropic ------------------------------------------------------- */

static void test_anthropic_plain(void **state)
{
	struct http_exchange *ex = mkex("api.anthropic.com", "/v1/messages",
		"{\"model\":\"claude-sonnet-4-5\",\"max_tokens\":1024,"
		"\"metadata\":{\"user_id\":\"u-9\"},\"messages\":[]}");
	struct llm_call c;

	respond(ex, 200, "application/json");
	hdr(&ex->resp_headers, "request-id", "req_011");
	seg(ex, 900, "{\"id\":\"msg_01\",\"type\":\"message\",\"role\":"
		"\"assistant\",\"model\":\"claude-sonnet-4-5-20250929\","
		"\"content\":[{\"type\":\"text\",\"text\":\"Hi\"}],"
		"\"stop_reason\":\"end_turn\",\"usage\":{\"input_tokens\":100,"
		"\"cache_creation_input_tokens\":500,"
		"\"cache_read_input_tokens\":2000,\"output_tokens\":50}}");
	analyze(ex, &c);
	assert_string_equal(c.provider, "anthropic");
	assert_string_equal(c.operation, "messages");
	assert_string_equal(c.model, "claude-sonnet-4-5");
	assert_string_equal(c.response_model, "claude-sonnet-4-5-20250929");
	assert_string_equal(c.user_id, "u-9");
	assert_string_equal(c.request_id, "req_011");
	/* 100 + 2000 read + 500 written. */
	assert_int_equal(c.usage.input_tokens, 2600);
	assert_int_equal(c.usage.cached_input_tokens, 2000);
	assert_int_equal(c.usage.cache_write_tokens, 500);
	assert_int_equal(c.usage.output_tokens, 50);
	assert_int_equal(c.usage.total_tokens, 2650);
	llm_call_clear(&c);
	exchange_free(ex);
}

static void test_anthropic_stream(void **state)
{
	struct http_exchange *ex = mkex("api.anthropic.com", "/v1/messages",
		"{\"model\":\"claude-haiku-4-5\",\"stream\":true}");
	struct llm_call c;

	respond(ex, 200, "text/event-stream");
	seg(ex, 200, "event: message_start\r\ndata: {\"type\":\"message_start\""
		",\"message\":{\"id\":\"msg_2\",\"model\":\"claude-haiku-4-5-"
		"20251001\",\"usage\":{\"input_tokens\":25,"
		"\"cache_read_input_tokens\":100,"
		"\"cache_creation_input_tokens\":0,\"output_tokens\":1}}}\r\n\r\n"
		"event: content_block_start\r\ndata: {\"type\":"
		"\"content_block_start\",\"index\":0,\"content_block\":"
		"{\"type\":\"text\",\"text\":\"\"}}\r\n\r\n");
	seg(ex, 210, "event: ping\r\ndata: {\"type\": \"ping\"}\r\n\r\n");
	seg(ex, 300, "event: content_block_delta\r\ndata: {\"type\":"
		"\"content_block_delta\",\"index\":0,\"delta\":{\"type\":"
		"\"text_delta\",\"text\":\"Hi\"}}\r\n\r\n");
	/* message_delta usage is cumulative: 15 then 30 means 30. */
	seg(ex, 400, "event: message_delta\r\ndata: {\"type\":\"message_delta\""
		",\"delta\":{\"stop_reason\":null},\"usage\":"
		"{\"output_tokens\":15}}\r\n\r\n");
	seg(ex, 450, "event: message_delta\r\ndata: {\"type\":\"message_delta\""
		",\"delta\":{\"stop_reason\":\"end_turn\"},\"usage\":"
		"{\"output_tokens\":30}}\r\n\r\nevent: message_stop\r\n"
		"data: {\"type\":\"message_stop\"}\r\n\r\n");
	analyze(ex, &c);
	assert_true(c.stream);
	assert_int_equal(c.ttft_ns, 300 * MS);
	assert_int_equal(c.usage.input_tokens, 125);
	assert_int_equal(c.usage.cached_input_tokens, 100);
	assert_int_equal(c.usage.output_tokens, 30);
	assert_int_equal(c.usage.total_tokens, 155);
	assert_string_equal(c.response_model, "claude-haiku-4-5-20251001");
	assert_string_equal(c.request_id, "msg_2");
	llm_call_clear(&c);
	exchange_free(ex);
}

static void test_anthropic_stream_error(void **state)
{
	struct http_exchange *ex = mkex("api.anthropic.com", "/v1/messages",
		"{\"model\":\"claude-opus-4-1\",\"stream\":true}");
	struct llm_call c;

	respond(ex, 200, "text/event-stream");
	seg(ex, 200, "event: message_start\ndata: {\"type\":\"message_start\""
		",\"message\":{\"model\":\"claude-opus-4-1-20250805\","
		"\"usage\":{\"input_tokens\":10,\"output_tokens\":1}}}\n\n");
	seg(ex, 900, "event: error\ndata: {\"type\":\"error\",\"error\":"
		"{\"type\":\"overloaded_error\",\"message\":\"Overloaded\"}}\n\n");
	analyze(ex, &c);
	assert_string_equal(c.err_type, "overloaded_error");
	assert_string_equal(c.err_message, "Overloaded");
	assert_false(c.has_ttft);
	/* What was seen is still reported. */
	assert_int_equal(c.usage.input_tokens, 10);
	llm_call_clear(&c);
	exchange_free(ex);
}

static void test_anthropic_429(void **state)
{
	struct http_exchange *ex = mkex("api.anthropic.com", "/v1/messages",
		"{\"model\":\"claude-opus-4-1\"}");
	struct llm_call c;

	respond(ex, 429, "application/json");
	seg(ex, 20, "{\"type\":\"error\",\"error\":{\"type\":"
		"\"rate_limit_error\",\"message\":\"Number of request tokens "
		"has exceeded your per-minute rate limit\"}}");
	analyze(ex, &c);
	assert_string_equal(c.err_type, "rate_limit_error");
	assert_non_null(strstr(c.err_message, "per-minute"));
	assert_false(c.has_usage);
	llm_call_clear(&c);
	exchange_free(ex);
}

/* --- Gemini ---------------------------------------------------------- */

static void test_gemini_plain(void **state)
{
	struct http_exchange *ex = mkex("generativelanguage.googleapis.com",
		"/v1beta/models/gemini-2.5-flash:generateContent",
		"{\"contents\":[{\"parts\":[{\"text\":\"hi\"}]}]}");
	struct llm_call c;

	respond(ex, 200, "application/json; charset=UTF-8");
	seg(ex, 500, "{\"candidates\":[{\"content\":{\"parts\":[{\"text\":"
		"\"Hello\"}],\"role\":\"model\"},\"finishReason\":\"STOP\"}],"
		"\"usageMetadata\":{\"promptTokenCount\":1000,"
		"\"candidatesTokenCount\":200,\"cachedContentTokenCount\":600,"
		"\"thoughtsTokenCount\":300,\"totalTokenCount\":1500},"
		"\"modelVersion\":\"gemini-2.5-flash\",\"responseId\":\"r-1\"}");
	analyze(ex, &c);
	assert_string_equal(c.provider, "gemini");
	assert_string_equal(c.operation, "generate_content");
	assert_string_equal(c.model, "gemini-2.5-flash");
	assert_string_equal(c.response_model, "gemini-2.5-flash");
	assert_false(c.stream);
	assert_int_equal(c.usage.input_tokens, 1000);
	assert_int_equal(c.usage.cached_input_tokens, 600);
	/* Thoughts are reported apart and added. */
	assert_int_equal(c.usage.output_tokens, 500);
	assert_int_equal(c.usage.reasoning_tokens, 300);
	assert_int_equal(c.usage.total_tokens, 1500);
	assert_string_equal(c.request_id, "r-1");
	llm_call_clear(&c);
	exchange_free(ex);
}

static void test_gemini_stream(void **state)
{
	struct http_exchange *ex = mkex("generativelanguage.googleapis.com",
		"/v1beta/models/gemini-2.5-pro:streamGenerateContent?alt=sse",
		"{\"contents\":[]}");
	struct llm_call c;

	respond(ex, 200, "text/event-stream");
	seg(ex, 1200, "data: {\"candidates\":[{\"content\":{\"parts\":[{"
		"\"text\":\"The\"}],\"role\":\"model\"}}],\"usageMetadata\":{"
		"\"promptTokenCount\":12,\"candidatesTokenCount\":1,"
		"\"thoughtsTokenCount\":40,\"totalTokenCount\":53},"
		"\"modelVersion\":\"gemini-2.5-pro\"}\r\n\r\n");
	seg(ex, 1500, "data: {\"candidates\":[{\"content\":{\"parts\":[{"
		"\"text\":\" end\"}],\"role\":\"model\"},\"finishReason\":"
		"\"STOP\"}],\"usageMetadata\":{\"promptTokenCount\":12,"
		"\"candidatesTokenCount\":9,\"thoughtsTokenCount\":40,"
		"\"totalTokenCount\":61},\"modelVersion\":\"gemini-2.5-pro\"}"
		"\r\n\r\n");
	analyze(ex, &c);
	assert_true(c.stream);
	assert_string_equal(c.model, "gemini-2.5-pro");
	assert_int_equal(c.ttft_ns, 1200 * MS);
	assert_int_equal(c.usage.input_tokens, 12);
	assert_int_equal(c.usage.output_tokens, 49);
	assert_int_equal(c.usage.reasoning_tokens, 40);
	assert_int_equal(c.usage.total_tokens, 61);
	llm_call_clear(&c);
	exchange_free(ex);
}

static void test_gemini_500(void **state)
{
	struct http_exchange *ex = mkex("generativelanguage.googleapis.com",
		"/v1beta/models/gemini-2.0-flash:generateContent", "{}");
	struct llm_call c;

	respond(ex, 500, "application/json");
	seg(ex, 50, "{\"error\":{\"code\":500,\"message\":\"An internal "
		"error has occurred.\",\"status\":\"INTERNAL\"}}");
	analyze(ex, &c);
	assert_string_equal(c.err_type, "INTERNAL");
	assert_string_equal(c.err_message, "An internal error has occurred.");
	llm_call_clear(&c);
	exchange_free(ex);
}

/* The same stream cut at every byte into two arrivals: usage never
 * changes, and ttft is the arrival in which the first text event
 * ended. */
static const char ant_stream[] =
	"event: message_start\n"
	"data: {\"type\":\"message_start\",\"message\":{\"model\":\"m\","
	"\"usage\":{\"input_tokens\":7,\"cache_creation_input_tokens\":3,"
	"\"output_tokens\":1}}}\n\n"
	"event: content_block_delta\n"
	"data: {\"type\":\"content_block_delta\",\"delta\":{\"type\":"
	"\"text_delta\",\"text\":\"ok\"}}\n\n"
	"event: message_delta\n"
	"data: {\"type\":\"message_delta\",\"usage\":{\"output_tokens\":4}}"
	"\n\n";

static void test_stream_every_split(void **state)
{
	size_t n = strlen(ant_stream);
	const char *ev = strstr(ant_stream, "event: content_block_delta");
	/* The second \n of the blank line after it dispatches it. */
	size_t done = (size_t)(strstr(ev, "\n\n") - ant_stream) + 1;
	struct llm_call c;

	for (size_t i = 0; i <= n; i++) {
		struct http_exchange *ex = mkex("api.anthropic.com",
						"/v1/messages", "{}");
		char *a = strndup(ant_stream, i);

		respond(ex, 200, "text/event-stream");
		seg(ex, 100, a);
		seg(ex, 200, ant_stream + i);
		analyze(ex, &c);
		assert_true(c.stream);
		assert_int_equal(c.usage.input_tokens, 10);
		assert_int_equal(c.usage.cache_write_tokens, 3);
		assert_int_equal(c.usage.output_tokens, 4);
		assert_int_equal(c.ttft_ns, (done < i ? 100 : 200) * MS);
		llm_call_clear(&c);
		exchange_free(ex);
		free(a);
	}
}

/* --- Ollama ---------------------------------------------------------- */

/* A streamed /api/chat as Ollama sends it (docs/api.md): the first
 * line has no text yet, the last carries the counts. */
static const char oll_stream[] =
	"{\"model\":\"llama3.2\",\"created_at\":\"2025-01-01T00:00:00Z\","
	"\"message\":{\"role\":\"assistant\",\"content\":\"\"},"
	"\"done\":false}\n"
	"{\"model\":\"llama3.2\",\"created_at\":\"2025-01-01T00:00:01Z\","
	"\"message\":{\"role\":\"assistant\",\"content\":\"Hel\"},"
	"\"done\":false}\n"
	"{\"model\":\"llama3.2\",\"created_at\":\"2025-01-01T00:00:02Z\","
	"\"message\":{\"role\":\"assistant\",\"content\":\"lo\"},"
	"\"done\":false}\n"
	"{\"model\":\"llama3.2\",\"created_at\":\"2025-01-01T00:00:03Z\","
	"\"message\":{\"role\":\"assistant\",\"content\":\"\"},"
	"\"done\":true,\"done_reason\":\"stop\",\"total_duration\":4883583458,"
	"\"load_duration\":1334875,\"prompt_eval_count\":26,"
	"\"prompt_eval_duration\":342546000,\"eval_count\":298,"
	"\"eval_duration\":4535599000}\n";

/* No "stream" in the request: Ollama streams by default. */
static struct http_exchange *oll_chat(const char *host)
{
	struct http_exchange *ex = mkex(host, "/api/chat",
		"{\"model\":\"llama3.2\",\"messages\":[{\"role\":\"user\","
		"\"content\":\"hi\"}]}");

	respond(ex, 200, "application/x-ndjson");
	return ex;
}

static void oll_check_stream(const struct llm_call *c)
{
	assert_int_equal(c->dialect, PROV_OLLAMA);
	assert_string_equal(c->provider, "ollama");
	assert_string_equal(c->operation, "chat");
	assert_string_equal(c->model, "llama3.2");
	assert_string_equal(c->response_model, "llama3.2");
	assert_true(c->stream);
	assert_true(c->has_usage);
	assert_int_equal(c->usage.input_tokens, 26);
	assert_int_equal(c->usage.output_tokens, 298);
	assert_int_equal(c->usage.total_tokens, 324);
	assert_int_equal(c->events, 4);
	assert_null(c->err_type);
	assert_null(c->parse_error);
}

/* Cut into two arrivals at every byte: the same usage, and ttft is the
 * arrival that held the newline of the first line with text. */
static void test_ollama_stream_every_split(void **state)
{
	size_t n = strlen(oll_stream);
	const char *hel = strstr(oll_stream, "\"Hel\"");
	size_t done = (size_t)(strchr(hel, '\n') - oll_stream);
	struct llm_call c;

	for (size_t i = 0; i <= n; i++) {
		struct http_exchange *ex = oll_chat("localhost:11434");
		char *a = strndup(oll_stream, i);

		seg(ex, 100, a);
		seg(ex, 200, oll_stream + i);
		analyze(ex, &c);
		oll_check_stream(&c);
		assert_int_equal(c.ttft_ns, (done < i ? 100 : 200) * MS);
		llm_call_clear(&c);
		exchange_free(ex);
		free(a);
	}
}

/* One arrival per byte, byte k at k ms. */
static void test_ollama_stream_bytewise(void **state)
{
	struct http_exchange *ex = oll_chat("127.0.0.1:8080");
	const char *hel = strstr(oll_stream, "\"Hel\"");
	size_t done = (size_t)(strchr(hel, '\n') - oll_stream);
	struct llm_call c;

	for (size_t i = 0; oll_stream[i]; i++) {
		char one[2] = { oll_stream[i], '\0' };

		seg(ex, 1 + i, one);
	}
	analyze(ex, &c);
	/* A loopback host speaking the dialect is named by it. */
	oll_check_stream(&c);
	assert_int_equal(c.ttft_ns, (1 + done) * MS);
	llm_call_clear(&c);
	exchange_free(ex);
}

static void test_ollama_generate(void **state)
{
	struct http_exchange *ex = mkex("localhost:11434", "/api/generate",
		"{\"model\":\"qwen2.5:7b\",\"prompt\":\"Why?\","
		"\"stream\":false}");
	struct llm_call c;

	respond(ex, 200, "application/json; charset=utf-8");
	seg(ex, 300, "{\"model\":\"qwen2.5:7b\",\"created_at\":"
		"\"2025-01-01T00:00:00Z\",\"response\":\"Because.\","
		"\"done\":true,\"done_reason\":\"stop\",\"context\":[1,2,3],"
		"\"total_duration\":5043500667,\"prompt_eval_count\":11,"
		"\"eval_count\":4}");
	ex->ts_resp_end = T0 + 301 * MS;
	analyze(ex, &c);
	assert_string_equal(c.provider, "ollama");
	assert_string_equal(c.operation, "completions");
	assert_string_equal(c.model, "qwen2.5:7b");
	assert_false(c.stream);
	assert_false(c.has_ttft);
	assert_true(c.has_usage);
	assert_int_equal(c.usage.input_tokens, 11);
	assert_int_equal(c.usage.output_tokens, 4);
	assert_int_equal(c.usage.total_tokens, 15);
	assert_int_equal(c.duration_ns, 301 * MS);
	llm_call_clear(&c);
	exchange_free(ex);
}

/* Pretty-printed, as a proxy might: one object over many lines. */
static void test_ollama_pretty(void **state)
{
	struct http_exchange *ex = mkex("localhost:11434", "/api/embed",
		"{\"model\":\"all-minilm\",\"input\":\"hi\"}");
	struct llm_call c;

	respond(ex, 200, "application/json");
	seg(ex, 30, "{\n  \"model\": \"all-minilm\",\n  \"embeddings\": "
		"[[0.1,\n 0.2]],\n  \"prompt_eval_count\": 8\n}\n");
	analyze(ex, &c);
	assert_string_equal(c.operation, "embeddings");
	assert_false(c.stream);
	assert_true(c.has_usage);
	assert_int_equal(c.usage.input_tokens, 8);
	assert_int_equal(c.usage.output_tokens, 0);
	assert_null(c.parse_error);
	llm_call_clear(&c);
	exchange_free(ex);
}

static void test_ollama_error(void **state)
{
	struct http_exchange *ex = oll_chat("localhost:11434");
	struct llm_call c;

	respond(ex, 404, "application/json; charset=utf-8");
	seg(ex, 5, "{\"error\":\"model \\\"llama3.2\\\" not found, try "
		"pulling it first\"}");
	analyze(ex, &c);
	assert_string_equal(c.err_type, "error");
	assert_non_null(strstr(c.err_message, "not found"));
	assert_false(c.has_usage);
	assert_false(c.has_ttft);
	llm_call_clear(&c);
	exchange_free(ex);

	/* An error line in the middle of a stream. */
	ex = oll_chat("localhost:11434");
	seg(ex, 10, "{\"model\":\"llama3.2\",\"message\":{\"content\":\"A\"},"
		"\"done\":false}\n");
	seg(ex, 20, "{\"error\":\"an error was encountered while running "
		"the model\"}\n");
	analyze(ex, &c);
	assert_string_equal(c.err_type, "error");
	assert_int_equal(c.ttft_ns, 10 * MS);
	assert_false(c.has_usage);
	llm_call_clear(&c);
	exchange_free(ex);
}

/* Cut before the last line, and cut mid-line: no counts came. */
static void test_ollama_incomplete(void **state)
{
	size_t cut = (size_t)(strstr(oll_stream, "\"done\":true") -
			      oll_stream);
	size_t last = (size_t)(strrchr(oll_stream, '{') - oll_stream);
	size_t cuts[] = { last, cut };
	struct llm_call c;

	for (size_t k = 0; k < 2; k++) {
		struct http_exchange *ex = oll_chat("localhost:11434");
		char *a = strndup(oll_stream, cuts[k]);

		seg(ex, 50, a);
		ex->incomplete = true;
		analyze(ex, &c);
		assert_true(c.stream);
		assert_false(c.has_usage);
		assert_int_equal(c.ttft_ns, 50 * MS);
		assert_null(c.err_type);
		llm_call_clear(&c);
		exchange_free(ex);
		free(a);
	}
}

/* With no response (status 0), only the request says: streamed
 * unless "stream": false, and embeddings never. */
static void test_ollama_stream_default(void **state)
{
	static const struct {
		const char *path;
		const char *req;
		bool stream;
	} cases[] = {
		{ "/api/chat", "{\"model\":\"m\"}", true },
		{ "/api/generate", "{\"model\":\"m\",\"stream\":true}", true },
		{ "/api/generate", "{\"model\":\"m\",\"stream\":false}",
		  false },
		{ "/api/embed", "{\"model\":\"m\"}", false },
	};
	struct llm_call c;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct http_exchange *ex = mkex("localhost:11434",
						cases[i].path, cases[i].req);

		ex->incomplete = true;
		analyze(ex, &c);
		assert_int_equal(c.stream, cases[i].stream);
		assert_false(c.has_usage);
		llm_call_clear(&c);
		exchange_free(ex);
	}
}

/* A web app's own /api/chat is not Ollama unless it names a model or
 * the host is Ollama's; a cloud API's never is. */
static void test_ollama_not_llm(void **state)
{
	struct http_exchange *ex = mkex("shop.example.com", "/api/chat",
					"{\"messages\":[\"hi\"]}");
	struct llm_call c;

	assert_int_equal(provider_analyze(ex, &c), -ENOENT);
	llm_call_clear(&c);
	exchange_free(ex);

	ex = mkex("api.openai.com", "/api/chat",
		  "{\"model\":\"gpt-4o\",\"messages\":[]}");
	assert_int_equal(provider_analyze(ex, &c), -ENOENT);
	llm_call_clear(&c);
	exchange_free(ex);

	/* Named by the port, the request body cannot unmake it. */
	ex = mkex("gpu-box:11434", "/api/chat", "not json");
	analyze(ex, &c);
	assert_string_equal(c.provider, "ollama");
	assert_string_equal(c.parse_error, "request body is not JSON");
	llm_call_clear(&c);
	exchange_free(ex);
}

/* --- cost of local models -------------------------------------------- */

static json_t *oll_record(struct calls *calls, struct http_exchange *ex)
{
	json_t *rec = calls_record(calls, ex);

	assert_non_null(rec);
	exchange_free(ex);
	return rec;
}

static struct http_exchange *oll_priced(const char *host, const char *path,
					const char *model)
{
	char req[128];
	struct http_exchange *ex;

	snprintf(req, sizeof(req), "{\"model\":\"%s\",\"stream\":false}",
		 model);
	ex = mkex(host, path, req);
	respond(ex, 200, "application/json");
	if (strncmp(path, "/api/", 5) == 0)
		seg(ex, 10, "{\"done\":true,\"prompt_eval_count\":1000,"
			"\"eval_count\":500}");
	else
		seg(ex, 10, "{\"usage\":{\"prompt_tokens\":1000,"
			"\"completion_tokens\":500}}");
	return ex;
}

static struct calls *oll_calls(const char *pricing)
{
	struct calls_opts o = { .out_path = "/dev/null",
				.pricing_path = pricing };
	struct calls *calls = calls_new(&o);

	assert_non_null(calls);
	return calls;
}

static void test_ollama_cost(void **state)
{
	char path[] = "/tmp/llmtap-test-pricing-XXXXXX";
	static const char prices[] =
		"{\"models\":[{\"provider\":\"ollama\",\"match\":\"llama3\","
		"\"input\":1.0,\"output\":4.0}]}";
	int fd = mkstemp(path);
	struct calls *calls;
	json_t *rec;

	assert_true(fd >= 0);
	assert_int_equal(write(fd, prices, strlen(prices)),
			 (ssize_t)strlen(prices));
	close(fd);
	calls = oll_calls(path);

	/* Priced by the user's file: 1000 * 1.0 + 500 * 4.0 per 1e6. */
	rec = oll_record(calls, oll_priced("localhost:11434",
					   "/api/generate", "llama3"));
	assert_float_equal(json_real_value(json_object_get(rec, "cost_usd")),
			   0.003, 1e-12);
	json_decref(rec);

	/* Not in any table: free, on the native or the OpenAI path. */
	rec = oll_record(calls, oll_priced("localhost:11434",
					   "/api/generate", "qwen2.5"));
	assert_true(json_is_real(json_object_get(rec, "cost_usd")));
	assert_float_equal(json_real_value(json_object_get(rec, "cost_usd")),
			   0.0, 0);
	json_decref(rec);
	rec = oll_record(calls, oll_priced("localhost:11434",
					   "/v1/chat/completions", "qwen2.5"));
	assert_string_equal(json_string_value(json_object_get(rec,
			    "provider")), "ollama");
	assert_float_equal(json_real_value(json_object_get(rec, "cost_usd")),
			   0.0, 0);
	json_decref(rec);

	/* Any other local server is not free: it may be a paid proxy. */
	rec = oll_record(calls, oll_priced("127.0.0.1:8080",
					   "/v1/chat/completions", "qwen2.5"));
	assert_true(json_is_null(json_object_get(rec, "cost_usd")));
	json_decref(rec);

	calls_free(calls);
	unlink(path);
}

/* No usage, no cost: a stream cut before its counts is not free. */
static void test_ollama_cost_incomplete(void **state)
{
	struct calls *calls = oll_calls(NULL);
	struct http_exchange *ex = oll_chat("localhost:11434");
	json_t *rec;

	seg(ex, 10, "{\"model\":\"llama3.2\",\"message\":{\"content\":\"A\"},"
		"\"done\":false}\n");
	ex->incomplete = true;
	rec = oll_record(calls, ex);
	assert_true(json_is_null(json_object_get(rec, "usage")));
	assert_true(json_is_null(json_object_get(rec, "cost_usd")));
	assert_true(json_is_true(json_object_get(rec, "stream")));
	json_decref(rec);
	calls_free(calls);
}

/* --- recognition and bad input -------------------------------------- */

struct name_case {
	const char *host;
	const char *path;
	const char *provider;
	const char *operation;
};

static const struct name_case names[] = {
	{ "api.groq.com", "/openai/v1/chat/completions", "groq", "chat" },
	{ "openrouter.ai", "/api/v1/chat/completions", "openrouter", "chat" },
	{ "api.together.xyz", "/v1/completions", "together", "completions" },
	{ "api.mistral.ai", "/v1/chat/completions", "mistral", "chat" },
	{ "api.deepseek.com", "/chat/completions", "deepseek", "chat" },
	{ "api.x.ai", "/v1/responses", "xai", "responses" },
	{ "localhost:11434", "/v1/chat/completions", "ollama", "chat" },
	{ "localhost:11434", "/api/chat", "ollama", "chat" },
	{ "127.0.0.1:8080", "/api/generate", "ollama", "completions" },
	{ "gpu-box:11434", "/api/embed", "ollama", "embeddings" },
	{ "ollama.lan", "/api/embeddings", "ollama", "embeddings" },
	{ "llm.example.com", "/ollama/api/chat", "ollama_compatible",
	  "chat" },
	{ "127.0.0.1:8080", "/v1/embeddings", "openai", "embeddings" },
	{ "127.0.0.1:8080", "/v1/chat/completions", "openai", "chat" },
	{ "127.0.0.1:8080", "/v1/messages", "anthropic", "messages" },
	{ "127.0.0.1:8080", "/v1beta/models/m:generateContent", "gemini",
	  "generate_content" },
	{ "vllm.internal:8000", "/v1/chat/completions", "openai_compatible",
	  "chat" },
	{ "generativelanguage.googleapis.com",
	  "/v1beta/openai/chat/completions", "gemini", "chat" },
	{ "API.OpenAI.com", "/v1/embeddings?x=1", "openai", "embeddings" },
	{ "evil-api.openai.com.example", "/v1/chat/completions",
	  "openai_compatible", "chat" },
};

static void test_provider_names(void **state)
{
	const char *prov, *op;

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		struct http_exchange *ex = mkex(names[i].host, names[i].path,
						NULL);

		assert_int_not_equal(provider_classify(ex, &prov, &op),
				     PROV_NONE);
		assert_string_equal(prov, names[i].provider);
		assert_string_equal(op, names[i].operation);
		exchange_free(ex);
	}
}

static void test_sni_only(void **state)
{
	struct http_exchange *ex = mkex(NULL, "/v1/chat/completions", NULL);
	const char *prov, *op;

	snprintf(ex->sni, sizeof(ex->sni), "api.openai.com");
	assert_int_equal(provider_classify(ex, &prov, &op), PROV_OPENAI);
	assert_string_equal(prov, "openai");
	exchange_free(ex);
}

static void test_not_llm(void **state)
{
	static const char *const paths[] = {
		"/v1/models", "/", "/api/foo", "/v1/messages/count_tokens",
		"/v1beta/models/gemini-2.5-flash:countTokens",
	};
	struct llm_call c;

	for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++) {
		struct http_exchange *ex = mkex("api.openai.com", paths[i],
						NULL);

		assert_int_equal(provider_analyze(ex, &c), -ENOENT);
		llm_call_clear(&c);
		exchange_free(ex);
	}
	/* A GET of a generating path lists, it does not generate. */
	{
		struct http_exchange *ex = mkex("api.openai.com",
						"/v1/chat/completions", NULL);

		free(ex->method);
		ex->method = strdup("GET");
		assert_int_equal(provider_analyze(ex, &c), -ENOENT);
		llm_call_clear(&c);
		exchange_free(ex);
	}
}

static void test_garbage(void **state)
{
	static const char *const bodies[] = {
		"{\"usage\":", "[[[[[[[", "data: {\"usage\":{\"prompt_tokens\""
		":\"many\"}}\n\n", "data: [1,2]\n\ndata: null\n\n",
		"{\"usage\":{\"prompt_tokens\":-5,\"completion_tokens\":1e99}}",
		"{\"error\":42,\"model\":7}", "\xff\xfe\x00garbage",
	};
	struct llm_call c;

	for (size_t i = 0; i < sizeof(bodies) / sizeof(bodies[0]); i++) {
		struct http_exchange *ex = mkex("api.openai.com",
			"/v1/chat/completions", "{\"model\":[1],\"stream\":1}");

		respond(ex, 200, "application/json");
		seg(ex, 10, bodies[i]);
		analyze(ex, &c);
		assert_null(c.model);
		assert_int_equal(c.usage.input_tokens, 0);
		llm_call_clear(&c);
		exchange_free(ex);
	}
}

static void test_clear_null(void **state)
{
	struct llm_call c;

	llm_call_clear(NULL);
	memset(&c, 0, sizeof(c));
	llm_call_clear(&c);
	assert_null(c.model);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_openai_chat),
		cmocka_unit_test(test_openai_stream_usage),
		cmocka_unit_test(test_openai_stream_no_usage),
		cmocka_unit_test(test_openai_stream_incomplete),
		cmocka_unit_test(test_openai_responses_stream),
		cmocka_unit_test(test_openai_responses_failed),
		cmocka_unit_test(test_openai_embeddings),
		cmocka_unit_test(test_openai_429),
		cmocka_unit_test(test_openai_500_not_json),
		cmocka_unit_test(test_azure),
		cmocka_unit_test(test_anthropic_plain),
		cmocka_unit_test(test_anthropic_stream),
		cmocka_unit_test(test_anthropic_stream_error),
		cmocka_unit_test(test_anthropic_429),
		cmocka_unit_test(test_gemini_plain),
		cmocka_unit_test(test_gemini_stream),
		cmocka_unit_test(test_gemini_500),
		cmocka_unit_test(test_stream_every_split),
		cmocka_unit_test(test_ollama_stream_every_split),
		cmocka_unit_test(test_ollama_stream_bytewise),
		cmocka_unit_test(test_ollama_generate),
		cmocka_unit_test(test_ollama_pretty),
		cmocka_unit_test(test_ollama_error),
		cmocka_unit_test(test_ollama_incomplete),
		cmocka_unit_test(test_ollama_stream_default),
		cmocka_unit_test(test_ollama_not_llm),
		cmocka_unit_test(test_ollama_cost),
		cmocka_unit_test(test_ollama_cost_incomplete),
		cmocka_unit_test(test_provider_names),
		cmocka_unit_test(test_sni_only),
		cmocka_unit_test(test_not_llm),
		cmocka_unit_test(test_garbage),
		cmocka_unit_test(test_clear_null),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
