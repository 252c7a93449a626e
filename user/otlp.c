// SPDX-License-Identifier: MIT
/*
 * OpenTelemetry export of llm_call records as spans (see otlp.h): the
 * span shape, then the queue, then the worker that posts batches.
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>

#include "log.h"
#include "otlp.h"
#include "store.h"

/* SpanKind CLIENT and StatusCode ERROR, from the OTLP trace proto. */
#define OTLP_KIND_CLIENT 3
#define OTLP_STATUS_ERROR 2
#define OTLP_NS_PER_MS 1000000.0
#define OTLP_HTTP_ERROR_MIN 400

/* Retries: backoff from 0.5 s doubling to 30 s, a Retry-After of at
 * most a minute, and a batch given up after this many attempts (about
 * four minutes of trying). */
#define OTLP_BACKOFF_MS 500
#define OTLP_BACKOFF_MAX_MS 30000
#define OTLP_RETRY_AFTER_MAX_S 60
#define OTLP_MAX_ATTEMPTS 12
/* One request may take this long. */
#define OTLP_TIMEOUT_MS 10000
#define OTLP_CONNECT_TIMEOUT_MS 5000
/* Response bytes kept, for partialSuccess and error messages. */
#define OTLP_RESPONSE_MAX 4096
#define OTLP_HOST_MAX 256
#define OTLP_HEADER_MAX 8192

/* ---- the span ---- */

/* Our provider names as gen_ai.system values, where the semantic
 * conventions list one; any other name is passed on as it is. */
static const struct {
	const char *ours, *semconv;
} otlp_systems[] = {
	{ "azure", "azure.ai.openai" },
	{ "gemini", "gcp.gemini" },
	{ "mistral", "mistral_ai" },
	{ "xai", "x_ai" },
	{ "together", "together_ai" },
};

/* Our operations as gen_ai.operation.name values. */
static const struct {
	const char *ours, *semconv;
} otlp_operations[] = {
	{ "messages", "chat" },
	{ "responses", "chat" },
	{ "completions", "text_completion" },
	{ "embed_content", "embeddings" },
};

static const char *otlp_system(const char *provider)
{
	size_t i;

	for (i = 0; i < sizeof(otlp_systems) / sizeof(otlp_systems[0]); i++)
		if (!strcmp(provider, otlp_systems[i].ours))
			return otlp_systems[i].semconv;
	return provider;
}

static const char *otlp_operation(const char *op)
{
	size_t i;
	size_t n = sizeof(otlp_operations) / sizeof(otlp_operations[0]);

	for (i = 0; i < n; i++)
		if (!strcmp(op, otlp_operations[i].ours))
			return otlp_operations[i].semconv;
	return op;
}

static const char *otlp_get_str(const json_t *o, const char *key)
{
	return json_string_value(json_object_get(o, key));
}

static void otlp_hex(char *out, const uint8_t *b, size_t n)
{
	static const char digits[] = "0123456789abcdef";
	size_t i;

	for (i = 0; i < n; i++) {
		out[2 * i] = digits[b[i] >> 4];
		out[2 * i + 1] = digits[b[i] & 0xf];
	}
	out[2 * n] = '\0';
}

/* One {key, value: {TYPE: v}} entry; v is stolen. */
static void otlp_attr(json_t *attrs, const char *key, const char *type,
		      json_t *v)
{
	if (!v)
		return;
	json_array_append_new(attrs, json_pack("{s:s, s:{s:o}}", "key", key,
					       "value", type, v));
}

static void otlp_attr_str(json_t *attrs, const char *key, const char *s)
{
	if (s)
		otlp_attr(attrs, key, "stringValue", json_string(s));
}

/* OTLP/JSON writes 64-bit integers as strings. */
static void otlp_attr_int(json_t *attrs, const char *key, const json_t *v)
{
	char buf[24];

	if (!json_is_integer(v))
		return;
	snprintf(buf, sizeof(buf), "%" JSON_INTEGER_FORMAT,
		 json_integer_value(v));
	otlp_attr(attrs, key, "intValue", json_string(buf));
}

static void otlp_attr_num(json_t *attrs, const char *key, const json_t *v)
{
	if (json_is_number(v))
		otlp_attr(attrs, key, "doubleValue",
			  json_real(json_number_value(v)));
}

static void otlp_attr_bool(json_t *attrs, const char *key, const json_t *v)
{
	if (json_is_boolean(v))
		otlp_attr(attrs, key, "boolValue",
			  json_boolean(json_is_true(v)));
}

/* server.address and server.port from "host:port", "[v6]:port" or
 * "host". */
static void otlp_attr_server(json_t *attrs, const char *host)
{
	char name[OTLP_HOST_MAX];
	const char *colon, *start = host;
	size_t len;
	json_t *port;

	if (!host || !*host)
		return;
	colon = strrchr(host, ':');
	if (host[0] == '[') {
		const char *close = strchr(host, ']');

		start = host + 1;
		colon = close && close[1] == ':' ? close + 1 : NULL;
		len = close ? (size_t)(close - start) : strlen(start);
	} else {
		if (colon && strchr(host, ':') != colon)
			colon = NULL;	/* a bare IPv6 address */
		len = colon ? (size_t)(colon - host) : strlen(host);
	}
	if (len >= sizeof(name))
		return;
	memcpy(name, start, len);
	name[len] = '\0';
	otlp_attr_str(attrs, "server.address", name);
	if (!colon)
		return;
	port = json_integer(strtol(colon + 1, NULL, 10));
	otlp_attr_int(attrs, "server.port", port);
	json_decref(port);
}

static void otlp_attrs_genai(json_t *attrs, const json_t *rec)
{
	const char *prov = otlp_get_str(rec, "provider");
	const char *op = otlp_get_str(rec, "operation");
	const json_t *usage = json_object_get(rec, "usage");

	if (prov) {
		otlp_attr_str(attrs, "gen_ai.system", otlp_system(prov));
		/* The newer name of the same attribute (semconv 1.37). */
		otlp_attr_str(attrs, "gen_ai.provider.name", otlp_system(prov));
	}
	if (op)
		otlp_attr_str(attrs, "gen_ai.operation.name",
			      otlp_operation(op));
	otlp_attr_str(attrs, "gen_ai.request.model",
		      otlp_get_str(rec, "model"));
	otlp_attr_str(attrs, "gen_ai.response.model",
		      otlp_get_str(rec, "response_model"));
	otlp_attr_str(attrs, "gen_ai.response.id",
		      otlp_get_str(rec, "request_id"));
	otlp_attr_int(attrs, "gen_ai.usage.input_tokens",
		      json_object_get(usage, "input_tokens"));
	otlp_attr_int(attrs, "gen_ai.usage.output_tokens",
		      json_object_get(usage, "output_tokens"));
	otlp_attr_int(attrs, "llmtap.usage.cached_input_tokens",
		      json_object_get(usage, "cached_input_tokens"));
	otlp_attr_int(attrs, "llmtap.usage.reasoning_tokens",
		      json_object_get(usage, "reasoning_tokens"));
}

static void otlp_attrs_http(json_t *attrs, const json_t *rec)
{
	const json_t *http = json_object_get(rec, "http");
	const json_t *status = json_object_get(http, "status");

	otlp_attr_server(attrs, otlp_get_str(http, "host"));
	otlp_attr_str(attrs, "http.request.method",
		      otlp_get_str(http, "method"));
	otlp_attr_str(attrs, "url.path", otlp_get_str(http, "path"));
	/* 0: no response came, which is no status at all. */
	if (json_integer_value(status) > 0)
		otlp_attr_int(attrs, "http.response.status_code", status);
}

static void otlp_attrs_llmtap(json_t *attrs, const json_t *rec)
{
	const json_t *proc = json_object_get(rec, "process");
	const json_t *session = json_object_get(rec, "session");
	const json_t *props = json_object_get(rec, "properties");
	const char *name;
	json_t *v;
	char key[OTLP_HOST_MAX];

	otlp_attr_str(attrs, "llmtap.provider", otlp_get_str(rec, "provider"));
	otlp_attr_str(attrs, "llmtap.operation",
		      otlp_get_str(rec, "operation"));
	otlp_attr_num(attrs, "llmtap.cost_usd", json_object_get(rec,
								 "cost_usd"));
	otlp_attr_str(attrs, "llmtap.user_id", otlp_get_str(rec, "user_id"));
	otlp_attr_str(attrs, "llmtap.session.id", otlp_get_str(session, "id"));
	otlp_attr_str(attrs, "llmtap.session.path",
		      otlp_get_str(session, "path"));
	otlp_attr_str(attrs, "llmtap.session.name",
		      otlp_get_str(session, "name"));
	otlp_attr_int(attrs, "llmtap.process.pid",
		      json_object_get(proc, "pid"));
	otlp_attr_str(attrs, "llmtap.process.comm",
		      otlp_get_str(proc, "comm"));
	otlp_attr_str(attrs, "llmtap.process.exe", otlp_get_str(proc, "exe"));
	otlp_attr_str(attrs, "llmtap.process.user",
		      otlp_get_str(proc, "user"));
	otlp_attr_num(attrs, "llmtap.ttft_ms", json_object_get(rec, "ttft_ms"));
	otlp_attr_bool(attrs, "llmtap.stream", json_object_get(rec, "stream"));
	otlp_attr_bool(attrs, "llmtap.incomplete",
		       json_object_get(rec, "incomplete"));
	json_object_foreach((json_t *)props, name, v) {
		snprintf(key, sizeof(key), "llmtap.property.%s", name);
		otlp_attr_str(attrs, key, json_string_value(v));
	}
}

/* The error's type, else the HTTP status for a failed status, else
 * NULL (a success). buf holds a status. */
static const char *otlp_error_type(const json_t *rec, char *buf,
				   size_t size)
{
	const json_t *err = json_object_get(rec, "error");
	json_int_t status = json_integer_value(
		json_object_get(json_object_get(rec, "http"), "status"));
	const char *type = otlp_get_str(err, "type");

	if (type && *type)
		return type;
	if (json_is_object(err) || status >= OTLP_HTTP_ERROR_MIN) {
		snprintf(buf, size, "%" JSON_INTEGER_FORMAT, status);
		return buf;
	}
	return NULL;
}

/* Status ERROR with the provider's message, or UNSET ({}). */
static json_t *otlp_status(json_t *attrs, const json_t *rec)
{
	char buf[24];
	const char *type = otlp_error_type(rec, buf, sizeof(buf));
	const char *msg;

	if (!type)
		return json_object();
	otlp_attr_str(attrs, "error.type", type);
	msg = otlp_get_str(json_object_get(rec, "error"), "message");
	return json_pack("{s:i, s:s}", "code", OTLP_STATUS_ERROR, "message",
			 msg ? msg : type);
}

/* "chat gpt-4o-mini", as the conventions name a GenAI client span. */
static json_t *otlp_name(const json_t *rec)
{
	const char *op = otlp_get_str(rec, "operation");
	const char *model = otlp_get_str(rec, "model");

	op = op ? otlp_operation(op) : "llm_call";
	if (!model || !*model)
		return json_string(op);
	return json_sprintf("%s %s", op, model);
}

static json_t *otlp_times(json_t *span, const json_t *rec)
{
	uint64_t start = 0, end;
	double dur = json_number_value(json_object_get(rec, "duration_ms"));
	char buf[24];

	store_parse_ts(otlp_get_str(rec, "ts"), &start);
	end = start + (uint64_t)(dur > 0 ? dur * OTLP_NS_PER_MS : 0);
	snprintf(buf, sizeof(buf), "%" PRIu64, start);
	json_object_set_new(span, "startTimeUnixNano", json_string(buf));
	snprintf(buf, sizeof(buf), "%" PRIu64, end);
	json_object_set_new(span, "endTimeUnixNano", json_string(buf));
	return span;
}

json_t *otlp_span(const json_t *rec, const uint8_t *trace_id,
		  const uint8_t *span_id)
{
	char tid[2 * OTLP_TRACE_ID_LEN + 1], sid[2 * OTLP_SPAN_ID_LEN + 1];
	json_t *attrs = json_array();
	json_t *span;

	otlp_hex(tid, trace_id, OTLP_TRACE_ID_LEN);
	otlp_hex(sid, span_id, OTLP_SPAN_ID_LEN);
	otlp_attrs_genai(attrs, rec);
	otlp_attrs_http(attrs, rec);
	otlp_attrs_llmtap(attrs, rec);
	span = json_pack("{s:s, s:s, s:o, s:i, s:o}", "traceId", tid,
			 "spanId", sid, "name", otlp_name(rec), "kind",
			 OTLP_KIND_CLIENT, "status", otlp_status(attrs, rec));
	if (!span || !attrs) {
		json_decref(attrs);
		json_decref(span);
		return NULL;
	}
	json_object_set_new(span, "attributes", attrs);
	return otlp_times(span, rec);
}

json_t *otlp_request(json_t *spans, const char *host_name)
{
	json_t *attrs = json_array();

	otlp_attr_str(attrs, "service.name", "llmtap");
	otlp_attr_str(attrs, "host.name", host_name);
	return json_pack("{s:[{s:{s:o}, s:[{s:{s:s}, s:o}]}]}",
			 "resourceSpans", "resource", "attributes", attrs,
			 "scopeSpans", "scope", "name", "llmtap", "spans",
			 spans);
}

/* ---- options ---- */

/* An HTTP field name is a token (RFC 9110, 5.1); values are anything
 * but control characters, so no header can smuggle another. */
static bool otlp_header_ok(const char *arg, const char *colon)
{
	const char *p;

	if (colon == arg)
		return false;
	for (p = arg; p < colon; p++)
		if (!strchr("!#$%&'*+-.^_`|~", *p) &&
		    !(*p >= '0' && *p <= '9') && !(*p >= 'a' && *p <= 'z') &&
		    !(*p >= 'A' && *p <= 'Z'))
			return false;
	for (p = colon + 1; *p; p++)
		if ((unsigned char)*p < ' ' && *p != '\t')
			return false;
	return strlen(arg) < OTLP_HEADER_MAX;
}

int otlp_add_header(struct otlp_opts *o, const char *arg)
{
	const char *colon = strchr(arg, ':');

	if (!colon || !otlp_header_ok(arg, colon)) {
		log_err("--otlp-header wants NAME:VALUE (value not shown)");
		return -EINVAL;
	}
	if (o->nheaders == OTLP_HEADERS_MAX) {
		log_err("at most %d --otlp-header options", OTLP_HEADERS_MAX);
		return -EINVAL;
	}
	o->headers[o->nheaders++] = arg;
	return 0;
}

/* ---- the queue ---- */

struct otlp {
	char *url;
	char *log_url;	/* url without credentials, for the log */
	struct curl_slist *headers;
	char host[OTLP_HOST_MAX];
	size_t batch_max;
	unsigned flush_ms;
	unsigned shutdown_ms;

	pthread_mutex_t lock;	/* guards what follows, up to curl */
	pthread_cond_t cond;	/* spans came, or stop */
	json_t **queue;	/* a ring of cap spans from head */
	size_t cap, head, n;
	bool stop;
	bool dropping;	/* logged once until a batch gets through */
	uint64_t stop_at_ms;	/* monotonic: shutdown stops sending */
	struct otlp_stats st;

	/* The worker's own. */
	CURL *curl;
	bool failing;	/* logged once until a batch gets through */
	bool warned_rejected;	/* partial successes: logged once */
	char resp[OTLP_RESPONSE_MAX];
	size_t resp_len;
	pthread_t thread;
	bool started;
};

static uint64_t otlp_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void otlp_abs_time(struct timespec *ts, uint64_t at_ms)
{
	ts->tv_sec = (time_t)(at_ms / 1000);
	ts->tv_nsec = (long)(at_ms % 1000) * 1000000;
}

void otlp_add(struct otlp *x, const json_t *rec)
{
	uint8_t ids[OTLP_TRACE_ID_LEN + OTLP_SPAN_ID_LEN];
	json_t *span;

	if (getrandom(ids, sizeof(ids), 0) != (ssize_t)sizeof(ids))
		return;
	span = otlp_span(rec, ids, ids + OTLP_TRACE_ID_LEN);
	if (!span)
		return;
	pthread_mutex_lock(&x->lock);
	if (x->n == x->cap) {
		/* Newer calls matter more than old ones: drop the oldest. */
		json_decref(x->queue[x->head]);
		x->head = (x->head + 1) % x->cap;
		x->n--;
		x->st.dropped++;
		if (!x->dropping)
			log_warn("otlp: queue full (%zu spans); dropping the "
				 "oldest", x->cap);
		x->dropping = true;
	}
	x->queue[(x->head + x->n) % x->cap] = span;
	x->n++;
	x->st.queued++;
	if (x->n >= x->batch_max)
		pthread_cond_signal(&x->cond);
	pthread_mutex_unlock(&x->lock);
}

/* Up to batch_max spans off the queue, as an array; lock held. */
static json_t *otlp_pop(struct otlp *x)
{
	json_t *batch = json_array();

	while (x->n && json_array_size(batch) < x->batch_max) {
		json_t *span = x->queue[x->head];

		x->head = (x->head + 1) % x->cap;
		x->n--;
		if (json_array_append_new(batch, span))
			x->st.failed++;
	}
	return batch;
}

/* Shutdown ran out of time: what is left is counted, not sent. Lock
 * held. */
static void otlp_abandon(struct otlp *x)
{
	log_warn("otlp: stopping with %zu spans not sent", x->n);
	x->st.failed += x->n;
	while (x->n) {
		json_decref(x->queue[x->head]);
		x->head = (x->head + 1) % x->cap;
		x->n--;
	}
}

/* The next batch: when batch_max spans wait, or flush_ms after the
 * last batch if any wait. NULL once stopped and empty. */
static json_t *otlp_take(struct otlp *x)
{
	struct timespec until;
	json_t *batch = NULL;

	pthread_mutex_lock(&x->lock);
	otlp_abs_time(&until, otlp_now_ms() + x->flush_ms);
	if (x->stop && x->n && otlp_now_ms() >= x->stop_at_ms)
		otlp_abandon(x);
	while (!x->stop && x->n < x->batch_max) {
		if (pthread_cond_timedwait(&x->cond, &x->lock, &until) !=
		    ETIMEDOUT)
			continue;
		if (x->n)
			break;
		otlp_abs_time(&until, otlp_now_ms() + x->flush_ms);
	}
	if (x->n)
		batch = otlp_pop(x);
	pthread_mutex_unlock(&x->lock);
	return batch;
}

/* ---- sending ---- */

static size_t otlp_on_body(char *data, size_t size, size_t nmemb,
			   void *ctx)
{
	struct otlp *x = ctx;
	size_t len = size * nmemb;
	size_t room = sizeof(x->resp) - 1 - x->resp_len;
	size_t keep = len < room ? len : room;

	memcpy(x->resp + x->resp_len, data, keep);
	x->resp_len += keep;
	x->resp[x->resp_len] = '\0';
	return len;
}

/* Spans a 2xx answer still refused (ExportTracePartialSuccess). */
static uint64_t otlp_rejected(struct otlp *x)
{
	json_t *r = json_loads(x->resp, 0, NULL);
	json_t *ps = json_object_get(r, "partialSuccess");
	const json_t *v = json_object_get(ps, "rejectedSpans");
	/* int64 in JSON as a string or, from lax receivers, a number. */
	uint64_t n = json_is_string(v) ?
			     strtoull(json_string_value(v), NULL, 10) :
			     (uint64_t)json_integer_value(v);

	if (n && !x->warned_rejected)
		log_warn("otlp: the receiver rejected %" PRIu64 " spans: %s "
			 "(logged once; counted as failed)", n,
			 otlp_get_str(ps, "errorMessage") ?: "");
	x->warned_rejected |= n != 0;
	json_decref(r);
	return n;
}

/* What the OTLP spec says a client may retry (OTLP/HTTP, "Failures"). */
static bool otlp_retryable(long status)
{
	return status == 429 || status == 502 || status == 503 ||
	       status == 504;
}

static void otlp_failed(struct otlp *x, const char *why, long status)
{
	if (x->failing)
		return;
	x->failing = true;
	if (status)
		log_warn("otlp: %s answered HTTP %ld%s", x->log_url, status,
			 otlp_retryable(status) ? "; retrying" : "");
	else
		log_warn("otlp: cannot send to %s: %s; retrying", x->log_url,
			 why ? why : "no answer");
}

/* Milliseconds this request may take: less near the end of shutdown. */
static long otlp_timeout_ms(struct otlp *x)
{
	uint64_t now = otlp_now_ms(), at;

	pthread_mutex_lock(&x->lock);
	at = x->stop ? x->stop_at_ms : 0;
	pthread_mutex_unlock(&x->lock);
	if (!at)
		return OTLP_TIMEOUT_MS;
	if (at <= now)
		return 1;
	return at - now < OTLP_TIMEOUT_MS ? (long)(at - now) :
					    OTLP_TIMEOUT_MS;
}

/* One POST: 0 taken (rejected spans added to *rejected), 1 to retry
 * (*retry_after_s set when the receiver asked), -1 refused for good. */
static int otlp_post(struct otlp *x, const char *body, long *retry_after_s,
		     uint64_t *rejected)
{
	curl_off_t after = 0;
	long status = 0;
	CURLcode rc;

	x->resp_len = 0;
	x->resp[0] = '\0';
	curl_easy_setopt(x->curl, CURLOPT_POSTFIELDS, body);
	curl_easy_setopt(x->curl, CURLOPT_POSTFIELDSIZE, (long)strlen(body));
	curl_easy_setopt(x->curl, CURLOPT_TIMEOUT_MS, otlp_timeout_ms(x));
	rc = curl_easy_perform(x->curl);
	*retry_after_s = 0;
	if (rc != CURLE_OK) {
		otlp_failed(x, curl_easy_strerror(rc), 0);
		return 1;
	}
	curl_easy_getinfo(x->curl, CURLINFO_RESPONSE_CODE, &status);
	if (status >= 200 && status < 300) {
		*rejected = otlp_rejected(x);
		return 0;
	}
	otlp_failed(x, NULL, status);
	if (!otlp_retryable(status))
		return -1;
	/* Seconds, or an HTTP date turned into seconds, by libcurl. */
	if (curl_easy_getinfo(x->curl, CURLINFO_RETRY_AFTER, &after) ==
	    CURLE_OK && after > 0)
		*retry_after_s = after < OTLP_RETRY_AFTER_MAX_S ?
					 (long)after : OTLP_RETRY_AFTER_MAX_S;
	return 1;
}

/* Exponential backoff with up to a quarter of jitter, so that many
 * hosts that failed together do not retry together. */
static uint64_t otlp_backoff_ms(int attempt, long retry_after_s)
{
	uint64_t ms = OTLP_BACKOFF_MS;
	uint32_t r = 0;

	if (retry_after_s > 0)
		return (uint64_t)retry_after_s * 1000;
	while (--attempt > 0 && ms < OTLP_BACKOFF_MAX_MS)
		ms *= 2;
	if (ms > OTLP_BACKOFF_MAX_MS)
		ms = OTLP_BACKOFF_MAX_MS;
	if (getrandom(&r, sizeof(r), GRND_NONBLOCK) == (ssize_t)sizeof(r))
		ms += r % (ms / 4 + 1);
	return ms;
}

/* Waits ms before a retry; false when shutdown ends before that. */
static bool otlp_wait(struct otlp *x, uint64_t ms)
{
	uint64_t at = otlp_now_ms() + ms;
	struct timespec until;
	bool go = true;

	otlp_abs_time(&until, at);
	pthread_mutex_lock(&x->lock);
	while (go && otlp_now_ms() < at) {
		if (x->stop && at > x->stop_at_ms)
			go = false;
		else if (pthread_cond_timedwait(&x->cond, &x->lock, &until) ==
			 ETIMEDOUT)
			break;
	}
	pthread_mutex_unlock(&x->lock);
	return go;
}

static void otlp_count(struct otlp *x, uint64_t sent, uint64_t failed,
		       uint64_t retries)
{
	pthread_mutex_lock(&x->lock);
	x->st.sent += sent;
	x->st.failed += failed;
	x->st.retries += retries;
	if (sent)
		x->dropping = false;
	pthread_mutex_unlock(&x->lock);
}

/* Posts body until it is taken, refused, or attempts run out. */
static void otlp_send(struct otlp *x, const char *body, size_t n)
{
	uint64_t rejected = 0;
	long after;
	int attempt, res = 1;

	for (attempt = 1; res > 0; attempt++) {
		res = otlp_post(x, body, &after, &rejected);
		if (res <= 0)
			break;
		if (attempt == OTLP_MAX_ATTEMPTS ||
		    !otlp_wait(x, otlp_backoff_ms(attempt, after)))
			break;
	}
	if (res == 0 && x->failing)
		log_info("otlp: exporting again after %d attempts", attempt);
	if (res == 0)
		x->failing = false;
	else
		log_warn("otlp: gave up on %zu spans after %d attempts", n,
			 attempt);
	otlp_count(x, res == 0 ? n - rejected : 0,
		   res == 0 ? rejected : n, (uint64_t)attempt - 1);
}

static void otlp_deliver(struct otlp *x, json_t *batch)
{
	size_t n = json_array_size(batch);
	json_t *req = otlp_request(batch, x->host);
	char *body = req ? json_dumps(req, JSON_COMPACT) : NULL;

	json_decref(req);
	if (!body) {
		log_warn("otlp: out of memory; %zu spans lost", n);
		otlp_count(x, 0, n, 0);
		return;
	}
	otlp_send(x, body, n);
	free(body);
}

static void *otlp_main(void *arg)
{
	struct otlp *x = arg;
	json_t *batch;

	while ((batch = otlp_take(x)))
		otlp_deliver(x, batch);
	return NULL;
}

/* ---- life cycle ---- */

/* url with any user:password@ masked, since it is logged. */
static char *otlp_mask_url(const char *url)
{
	const char *auth = strstr(url, "://");
	const char *at, *end;
	char *out;

	auth = auth ? auth + 3 : url;
	end = auth + strcspn(auth, "/?#");
	at = memchr(auth, '@', (size_t)(end - auth));
	if (!at)
		return strdup(url);
	if (asprintf(&out, "%.*s***%s", (int)(auth - url), url, at) < 0)
		return NULL;
	return out;
}

static int otlp_curl_setup(struct otlp *x, const struct otlp_opts *o)
{
	size_t i;

	x->headers = curl_slist_append(NULL, "Content-Type: application/json");
	for (i = 0; x->headers && i < o->nheaders; i++)
		if (!curl_slist_append(x->headers, o->headers[i]))
			return -ENOMEM;
	x->curl = curl_easy_init();
	if (!x->headers || !x->curl)
		return -ENOMEM;
	curl_easy_setopt(x->curl, CURLOPT_URL, x->url);
	curl_easy_setopt(x->curl, CURLOPT_HTTPHEADER, x->headers);
	curl_easy_setopt(x->curl, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(x->curl, CURLOPT_CONNECTTIMEOUT_MS,
			 (long)OTLP_CONNECT_TIMEOUT_MS);
	curl_easy_setopt(x->curl, CURLOPT_WRITEFUNCTION, otlp_on_body);
	curl_easy_setopt(x->curl, CURLOPT_WRITEDATA, x);
	/* Only the scheme asked for: no redirect to somewhere else. */
	curl_easy_setopt(x->curl, CURLOPT_FOLLOWLOCATION, 0L);
	return 0;
}

static int otlp_init(struct otlp *x, const struct otlp_opts *o)
{
	pthread_condattr_t ca;

	x->cap = o->queue_max ? o->queue_max : OTLP_QUEUE_DEFAULT;
	x->batch_max = o->batch_max ? o->batch_max : OTLP_BATCH_DEFAULT;
	x->flush_ms = o->flush_ms ? o->flush_ms : OTLP_FLUSH_MS_DEFAULT;
	x->shutdown_ms = o->shutdown_ms ? o->shutdown_ms :
					  OTLP_SHUTDOWN_MS_DEFAULT;
	x->queue = calloc(x->cap, sizeof(*x->queue));
	x->url = strdup(o->url);
	x->log_url = otlp_mask_url(o->url);
	if (!x->queue || !x->url || !x->log_url)
		return -ENOMEM;
	if (gethostname(x->host, sizeof(x->host) - 1))
		strcpy(x->host, "unknown");
	pthread_mutex_init(&x->lock, NULL);
	/* Monotonic, so a clock step cannot stall or rush a batch. */
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&x->cond, &ca);
	pthread_condattr_destroy(&ca);
	return otlp_curl_setup(x, o);
}

static void otlp_release(struct otlp *x)
{
	size_t i;

	for (i = 0; i < x->n; i++)
		json_decref(x->queue[(x->head + i) % x->cap]);
	if (x->curl)
		curl_easy_cleanup(x->curl);
	curl_slist_free_all(x->headers);
	free(x->queue);
	free(x->url);
	free(x->log_url);
	free(x);
	curl_global_cleanup();
}

struct otlp *otlp_new(const struct otlp_opts *o)
{
	struct otlp *x;
	int err;

	if (!o->url || (strncmp(o->url, "http://", 7) &&
			strncmp(o->url, "https://", 8))) {
		log_err("--otlp wants an http:// or https:// URL");
		return NULL;
	}
	if (curl_global_init(CURL_GLOBAL_DEFAULT)) {
		log_err("otlp: cannot initialise libcurl");
		return NULL;
	}
	x = calloc(1, sizeof(*x));
	err = x ? otlp_init(x, o) : -ENOMEM;
	if (!err)
		err = -pthread_create(&x->thread, NULL, otlp_main, x);
	if (err) {
		log_err("otlp: cannot start: %s", strerror(-err));
		if (x)
			otlp_release(x);
		else
			curl_global_cleanup();
		return NULL;
	}
	x->started = true;
	log_info("otlp: exporting spans to %s", x->log_url);
	return x;
}

void otlp_stats(struct otlp *x, struct otlp_stats *out)
{
	pthread_mutex_lock(&x->lock);
	*out = x->st;
	pthread_mutex_unlock(&x->lock);
}

void otlp_free(struct otlp *x)
{
	struct otlp_stats st;

	if (!x)
		return;
	pthread_mutex_lock(&x->lock);
	x->stop = true;
	x->stop_at_ms = otlp_now_ms() + x->shutdown_ms;
	pthread_cond_broadcast(&x->cond);
	pthread_mutex_unlock(&x->lock);
	if (x->started)
		pthread_join(x->thread, NULL);
	otlp_stats(x, &st);
	log_info("otlp: %" PRIu64 " spans sent, %" PRIu64
		 " dropped (queue full), %" PRIu64 " failed, %" PRIu64
		 " retries", st.sent, st.dropped, st.failed, st.retries);
	pthread_mutex_destroy(&x->lock);
	pthread_cond_destroy(&x->cond);
	otlp_release(x);
}
