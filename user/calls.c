// SPDX-License-Identifier: MIT
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <openssl/evp.h>

#include "calls.h"
#include "log.h"
#include "output.h"
#include "pricing.h"
#include "provider.h"
#include "redact.h"
#include "session_infer.h"

#define CALLS_NS_PER_MS 1e6
#define CALLS_NS_PER_US 1000
#define CALLS_NS_PER_S 1000000000ull
/* Durations in ms and costs in USD need no more digits than this. */
#define CALLS_DUMP_FLAGS (JSON_COMPACT | JSON_REAL_PRECISION(10))
#define CALLS_TS_LEN 40
#define CALLS_SHA256_LEN 32

/* Helicone's documented attribution headers. */
#define CALLS_H_USER "Helicone-User-Id"
#define CALLS_H_SESSION "Helicone-Session-Id"
#define CALLS_H_SPATH "Helicone-Session-Path"
#define CALLS_H_SNAME "Helicone-Session-Name"
#define CALLS_H_PROP "Helicone-Property-"
#define CALLS_H_RATE_LIMIT "Helicone-RateLimit-Policy"

struct calls {
	struct calls_opts opts;
	struct pricing *pricing;
	struct output *out;
	struct calls_stats stats;
	struct session_infer *sessions;
};

/* --- values --------------------------------------------------------- */

/* Strings from the wire may hold bad UTF-8, which jansson refuses, or
 * a pasted key: both are dealt with here. NULL becomes null. */
static json_t *calls_str(const char *s)
{
	char *clean;
	json_t *j;

	if (!s)
		return json_null();
	clean = redact_body(s, strlen(s), SIZE_MAX, NULL);
	j = clean ? json_string(clean) : NULL;
	free(clean);
	return j ? j : json_null();
}

static json_t *calls_str_or_null(const char *s)
{
	return s && s[0] ? calls_str(s) : json_null();
}

static json_t *calls_ms(uint64_t ns)
{
	return json_real(round((double)ns / CALLS_NS_PER_US) /
			 (CALLS_NS_PER_MS / CALLS_NS_PER_US));
}

/* RFC 3339, UTC, microseconds. */
static void calls_ts(char *buf, size_t len, uint64_t ts_ns)
{
	time_t sec = (time_t)(ts_ns / CALLS_NS_PER_S);
	unsigned us = (unsigned)(ts_ns % CALLS_NS_PER_S / CALLS_NS_PER_US);
	struct tm tm;
	size_t n;

	gmtime_r(&sec, &tm);
	n = strftime(buf, len, "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(buf + n, len - n, ".%06uZ", us);
}

static json_t *calls_process(const struct http_exchange *ex)
{
	char comm[EV_COMM_LEN + 1];

	snprintf(comm, sizeof(comm), "%.*s", EV_COMM_LEN, ex->task.comm);
	return json_pack("{s:I, s:o, s:o, s:I, s:o, s:o}",
			 "pid", (json_int_t)ex->task.pid,
			 "comm", calls_str(comm),
			 "exe", calls_str_or_null(ex->proc.exe),
			 "uid", (json_int_t)ex->task.uid,
			 "user", calls_str_or_null(ex->proc.user),
			 "container", calls_str_or_null(ex->proc.container));
}

static json_t *calls_version(int v)
{
	char buf[16];

	if (v == 20)
		return json_string("2");
	snprintf(buf, sizeof(buf), "%d.%d", v / 10, v % 10);
	return json_string(buf);
}

static json_t *calls_http(const struct http_exchange *ex)
{
	char *path = ex->path ? redact_path(ex->path) : NULL;
	const char *host = ex->authority && ex->authority[0] ?
			   ex->authority : ex->sni;
	json_t *j;

	/* peer: the server's address, when the socket was seen; quotas
	 * learn from it which endpoints to refuse connections to. */
	j = json_pack("{s:o, s:o, s:o, s:o, s:o, s:o}",
		      "version", calls_version(ex->http_version),
		      "method", calls_str(ex->method),
		      "host", calls_str_or_null(host),
		      "path", calls_str(path),
		      "status", ex->status ? json_integer(ex->status) :
					     json_null(),
		      "peer", calls_str_or_null(ex->peer));
	free(path);
	return j;
}

static json_t *calls_usage(const struct llm_call *call)
{
	const struct llm_usage *u = &call->usage;

	if (!call->has_usage)
		return json_null();
	return json_pack("{s:I, s:I, s:I, s:I, s:I, s:I}",
			 "input_tokens", (json_int_t)u->input_tokens,
			 "output_tokens", (json_int_t)u->output_tokens,
			 "cached_input_tokens",
			 (json_int_t)u->cached_input_tokens,
			 "cache_write_tokens",
			 (json_int_t)u->cache_write_tokens,
			 "reasoning_tokens", (json_int_t)u->reasoning_tokens,
			 "total_tokens", (json_int_t)u->total_tokens);
}

/* A model served by a local Ollama runs on the user's own hardware:
 * it costs nothing unless --pricing gives it a price. A server merely
 * speaking a dialect on loopback may be a proxy to a paid API, so it
 * is not free. */
static bool calls_free_provider(const char *provider)
{
	return provider && strcmp(provider, "ollama") == 0;
}

/* The answering model names the price best; the requested one when
 * the response did not say or is not in the table. */
static json_t *calls_cost(struct calls *c, const struct llm_call *call)
{
	const struct price *pr = NULL;

	if (!call->has_usage)
		return json_null();
	if (call->response_model)
		pr = pricing_lookup(c->pricing, call->provider,
				    call->response_model);
	if (!pr && call->model)
		pr = pricing_lookup(c->pricing, call->provider, call->model);
	if (pr)
		return json_real(pricing_cost(pr, &call->usage));
	return calls_free_provider(call->provider) ? json_real(0) :
						     json_null();
}

static json_t *calls_error(const struct llm_call *call)
{
	if (!call->err_type)
		return json_null();
	return json_pack("{s:o, s:o}", "type", calls_str(call->err_type),
			 "message", calls_str(call->err_message));
}

/* Hex SHA-256 of the model and the decoded request body: equal for two
 * calls a response cache could have answered alike. A hash, so no
 * part of the body (or a key pasted into it) can be read back. */
static json_t *calls_request_hash(const struct http_exchange *ex,
				  const struct llm_call *call)
{
	const char *model = call->model ? call->model : "";
	unsigned char d[CALLS_SHA256_LEN];
	char hex[2 * CALLS_SHA256_LEN + 1];
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	int ok;

	ok = ctx && EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) &&
	     EVP_DigestUpdate(ctx, model, strlen(model) + 1) &&
	     EVP_DigestUpdate(ctx, ex->req_body.data ? ex->req_body.data :
			      (const uint8_t *)"", ex->req_body.len) &&
	     EVP_DigestFinal_ex(ctx, d, NULL);
	EVP_MD_CTX_free(ctx);
	if (!ok)
		return json_null();
	for (size_t i = 0; i < sizeof(d); i++)
		snprintf(hex + 2 * i, 3, "%02x", d[i]);
	return json_string(hex);
}

/* --- attribution ---------------------------------------------------- */

/* From the request the provider parsed, else from the body. */
static int calls_infer(struct calls *c, const struct http_exchange *ex,
		       const struct llm_call *call,
		       char id[SESSION_INFER_ID_LEN])
{
	if (call->request)
		return session_infer_assign_json(c->sessions, ex->task.pid,
						 ex->ts_req_start,
						 call->request, id);
	return session_infer_assign(c->sessions, ex->task.pid,
				    ex->ts_req_start,
				    (const char *)ex->req_body.data,
				    ex->req_body.len, id);
}

/* Without a declared id, the session is inferred from the
 * conversation the body carries (see session_infer.h). */
static json_t *calls_session(struct calls *c,
			     const struct http_exchange *ex,
			     const struct llm_call *call)
{
	const struct hdr_list *h = &ex->req_headers;
	const char *id = hdr_list_get(h, CALLS_H_SESSION);
	const char *path = hdr_list_get(h, CALLS_H_SPATH);
	const char *name = hdr_list_get(h, CALLS_H_SNAME);
	char inferred[SESSION_INFER_ID_LEN];
	bool guessed = false;

	if (!id && calls_infer(c, ex, call, inferred) == 0) {
		id = inferred;
		guessed = true;
	}
	if (!id && !path && !name)
		return json_null();
	return json_pack("{s:o, s:o, s:o, s:b}", "id", calls_str(id),
			 "path", calls_str(path), "name", calls_str(name),
			 "inferred", guessed);
}

static json_t *calls_properties(const struct hdr_list *h)
{
	size_t plen = strlen(CALLS_H_PROP);
	json_t *props = json_object();
	json_t *name;

	for (size_t i = 0; props && i < h->n; i++) {
		if (strncasecmp(h->v[i].name, CALLS_H_PROP, plen) ||
		    !h->v[i].name[plen])
			continue;
		name = calls_str(h->v[i].name + plen);
		if (json_is_string(name))
			json_object_set_new(props, json_string_value(name),
					    calls_str(h->v[i].value));
		json_decref(name);
	}
	return props;
}

static void calls_attribution(struct calls *c, json_t *rec,
			      const struct http_exchange *ex,
			      const struct llm_call *call)
{
	const char *user = hdr_list_get(&ex->req_headers, CALLS_H_USER);

	json_object_set_new(rec, "user_id",
			    calls_str(user ? user : call->user_id));
	json_object_set_new(rec, "session", calls_session(c, ex, call));
	json_object_set_new(rec, "properties",
			    calls_properties(&ex->req_headers));
	json_object_set_new(rec, "request_id", calls_str(call->request_id));
}

/* --- bodies --------------------------------------------------------- */

static void calls_body(json_t *rec, const char *key, const char *cut_key,
		       const struct body *b, size_t limit)
{
	bool cut = false;
	char *text = redact_body(b->len ? (const char *)b->data : "", b->len,
				 limit, &cut);

	json_object_set_new(rec, key, text ? json_string(text) : json_null());
	if (cut || b->truncated)
		json_object_set_new(rec, cut_key, json_true());
	free(text);
}

static void calls_bodies(struct calls *c, json_t *rec,
			 const struct http_exchange *ex)
{
	size_t limit = c->opts.body_limit;

	if (!c->opts.bodies)
		return;
	json_object_set_new(rec, "request_headers",
			    redact_headers_json(&ex->req_headers));
	json_object_set_new(rec, "response_headers",
			    redact_headers_json(&ex->resp_headers));
	calls_body(rec, "request_body", "request_body_truncated",
		   &ex->req_body, limit);
	calls_body(rec, "response_body", "response_body_truncated",
		   &ex->resp_body, limit);
}

/* --- the record ----------------------------------------------------- */

static void calls_flags(json_t *rec, const struct http_exchange *ex,
			const struct llm_call *call)
{
	json_object_set_new(rec, "incomplete", json_boolean(ex->incomplete));
	if (ex->incomplete && ex->note[0])
		json_object_set_new(rec, "incomplete_reason",
				    calls_str(ex->note));
	if (ex->capture_gap)
		json_object_set_new(rec, "capture_gap", json_true());
	if (call->parse_error)
		json_object_set_new(rec, "parse_error",
				    json_string(call->parse_error));
}

/* A rate-limit policy the client declares, kept as sent; quotas honour
 * it for its scope. */
static void calls_rate_limit(json_t *rec, const struct http_exchange *ex)
{
	const char *policy = hdr_list_get(&ex->req_headers,
					  CALLS_H_RATE_LIMIT);

	if (policy)
		json_object_set_new(rec, "rate_limit_policy",
				    json_string(policy));
}

static json_t *calls_build(struct calls *c, const struct http_exchange *ex,
			   const struct llm_call *call)
{
	char ts[CALLS_TS_LEN];
	json_t *rec;

	calls_ts(ts, sizeof(ts), ex->ts_req_start);
	rec = json_pack("{s:s, s:s, s:o, s:o, s:o, s:o}",
			"type", "llm_call", "ts", ts,
			"duration_ms", calls_ms(call->duration_ns),
			"ttft_ms", call->has_ttft ? calls_ms(call->ttft_ns) :
						    json_null(),
			"process", calls_process(ex),
			"http", calls_http(ex));
	if (!rec)
		return NULL;
	json_object_set_new(rec, "provider", json_string(call->provider));
	json_object_set_new(rec, "operation", json_string(call->operation));
	json_object_set_new(rec, "model", calls_str(call->model));
	json_object_set_new(rec, "response_model",
			    calls_str(call->response_model));
	json_object_set_new(rec, "stream", json_boolean(call->stream));
	json_object_set_new(rec, "usage", calls_usage(call));
	json_object_set_new(rec, "cost_usd", calls_cost(c, call));
	json_object_set_new(rec, "request_hash", calls_request_hash(ex, call));
	calls_attribution(c, rec, ex, call);
	calls_rate_limit(rec, ex);
	json_object_set_new(rec, "error", calls_error(call));
	calls_flags(rec, ex, call);
	calls_bodies(c, rec, ex);
	return rec;
}

json_t *calls_record(struct calls *c, const struct http_exchange *ex)
{
	struct llm_call call;
	json_t *rec = NULL;
	int err = provider_analyze(ex, &call);

	if (err == 0)
		rec = calls_build(c, ex, &call);
	else if (err != -ENOENT)
		log_warn("calls: cannot read an exchange: %s", strerror(-err));
	llm_call_clear(&call);
	return rec;
}

/* --- the sink ------------------------------------------------------- */

static void calls_count(struct calls *c, const json_t *rec)
{
	c->stats.llm_calls++;
	if (json_is_object(json_object_get(rec, "error")))
		c->stats.failed++;
	if (json_is_true(json_object_get(rec, "incomplete")))
		c->stats.incomplete++;
	if (json_is_object(json_object_get(rec, "usage")) &&
	    json_is_null(json_object_get(rec, "cost_usd")))
		c->stats.unpriced++;
}

static void calls_write(struct calls *c, json_t *rec)
{
	char *line = json_dumps(rec, CALLS_DUMP_FLAGS);
	int err = line ? output_write_line(c->out, line, strlen(line)) :
			 -ENOMEM;

	/* One warning, not one per record: the output may stay broken. */
	if (err && c->stats.write_errors++ == 0)
		log_warn("calls: cannot write a record: %s", strerror(-err));
	free(line);
}

static void calls_on_exchange(void *ctx, struct http_exchange *ex)
{
	struct calls *c = ctx;
	json_t *rec;

	c->stats.exchanges++;
	rec = calls_record(c, ex);
	if (!rec) {
		c->stats.not_llm++;
		return;
	}
	calls_count(c, rec);
	if (c->opts.on_record)
		c->opts.on_record(c->opts.on_record_ctx, rec);
	calls_write(c, rec);
	json_decref(rec);
}

/* Other line types (alerts) go to the same output, in order with the
 * calls: everything runs on the capture thread. */
void calls_write_json(struct calls *c, const json_t *obj)
{
	if (!c)
		return;
	calls_write(c, (json_t *)obj);
	if (c->opts.on_event)
		c->opts.on_event(c->opts.on_record_ctx, obj);
}

struct exchange_sink calls_sink(struct calls *c)
{
	return (struct exchange_sink){ .ctx = c,
				       .on_exchange = calls_on_exchange };
}

void calls_stats(const struct calls *c, struct calls_stats *out)
{
	memset(out, 0, sizeof(*out));
	if (c)
		*out = c->stats;
}

struct calls *calls_new(const struct calls_opts *o)
{
	struct calls *c = calloc(1, sizeof(*c));

	if (!c)
		return NULL;
	c->opts = *o;
	if (!c->opts.body_limit)
		c->opts.body_limit = CALLS_BODY_LIMIT_DEFAULT;
	c->sessions = session_infer_new();
	if (!c->sessions)
		goto fail;
	c->pricing = pricing_load(o->pricing_path);
	if (!c->pricing)
		goto fail;
	c->out = output_open(o->out_path, o->rotate_bytes, o->rotate_keep);
	if (!c->out)
		goto fail;
	log_debug("calls: %zu prices, updated %s", pricing_count(c->pricing),
		  pricing_updated(c->pricing));
	return c;
fail:
	calls_free(c);
	return NULL;
}

void calls_free(struct calls *c)
{
	if (!c)
		return;
	output_close(c->out);
	pricing_free(c->pricing);
	session_infer_free(c->sessions);
	free(c);
}
