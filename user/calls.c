// SPDX-License-Identifier: MIT
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "calls.h"
#include "digest.h"
#include "jsonw.h"
#include "log.h"
#include "output.h"
#include "pricing.h"
#include "provider.h"
#include "redact.h"
#include "session_infer.h"

#define CALLS_NS_PER_US 1000
#define CALLS_NS_PER_S 1000000000ull
/* Durations in ms and costs in USD need no more digits than this. */
#define CALLS_REAL_DIGITS 10
#define CALLS_DUMP_FLAGS \
	(JSON_COMPACT | JSON_REAL_PRECISION(CALLS_REAL_DIGITS))
#define CALLS_TS_LEN 40

/* Helicone's documented attribution headers. */
#define CALLS_H_USER "Helicone-User-Id"
#define CALLS_H_SESSION "Helicone-Session-Id"
#define CALLS_H_SPATH "Helicone-Session-Path"
#define CALLS_H_SNAME "Helicone-Session-Name"
#define CALLS_H_PROP "Helicone-Property-"
#define CALLS_H_RATE_LIMIT "Helicone-RateLimit-Policy"

/* Prices remembered by (provider, model). */
#define CALLS_PRICE_MEMO 8
#define CALLS_PRICE_MODEL_LEN 128

struct calls_price_memo {
	const char *provider;	/* static; NULL: an unused entry */
	char model[CALLS_PRICE_MODEL_LEN];
	const struct price *price;
};

struct calls {
	struct calls_opts opts;
	struct pricing *pricing;
	struct output *out;
	struct calls_stats stats;
	struct session_infer *sessions;
	struct jsonw line;	/* the record being written */
	struct digest hash;	/* for request_hash */
	struct calls_price_memo prices[CALLS_PRICE_MEMO];
	size_t next_price;	/* the memo entry to reuse next */
	bool priced;	/* the record being written has a cost */
};

/* --- values --------------------------------------------------------- */

/* Strings from the wire may hold bad UTF-8 or a pasted key: both are
 * dealt with here. NULL becomes null. */
static void calls_str(struct jsonw *w, const char *key, const char *s)
{
	size_t n = s ? strlen(s) : 0;
	char *clean;

	if (!s) {
		jsonw_null(w, key);
		return;
	}
	if (redact_text_is_plain(s, n)) {
		jsonw_strn(w, key, s, n);
		return;
	}
	clean = redact_body(s, n, SIZE_MAX, NULL);
	jsonw_str(w, key, clean);
	free(clean);
}

static void calls_str_or_null(struct jsonw *w, const char *key,
			      const char *s)
{
	calls_str(w, key, s && s[0] ? s : NULL);
}

/* Milliseconds to the microsecond. */
static void calls_ms(struct jsonw *w, const char *key, uint64_t ns)
{
	jsonw_milli(w, key, (ns + CALLS_NS_PER_US / 2) / CALLS_NS_PER_US);
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

static void calls_process(struct jsonw *w, const struct http_exchange *ex)
{
	char comm[EV_COMM_LEN + 1];

	snprintf(comm, sizeof(comm), "%.*s", EV_COMM_LEN, ex->task.comm);
	jsonw_open(w, "process");
	jsonw_u64(w, "pid", ex->task.pid);
	calls_str(w, "comm", comm);
	calls_str_or_null(w, "exe", ex->proc.exe);
	jsonw_u64(w, "uid", ex->task.uid);
	calls_str_or_null(w, "user", ex->proc.user);
	calls_str_or_null(w, "container", ex->proc.container);
	jsonw_close(w);
}

static void calls_version(struct jsonw *w, int v)
{
	char buf[16];

	if (v == 20) {
		jsonw_str(w, "version", "2");
		return;
	}
	snprintf(buf, sizeof(buf), "%d.%d", v / 10, v % 10);
	jsonw_str(w, "version", buf);
}

static void calls_http(struct jsonw *w, const struct http_exchange *ex)
{
	char *path = ex->path ? redact_path(ex->path) : NULL;
	const char *host = ex->authority && ex->authority[0] ?
			   ex->authority : ex->sni;

	jsonw_open(w, "http");
	calls_version(w, ex->http_version);
	calls_str(w, "method", ex->method);
	calls_str_or_null(w, "host", host);
	calls_str(w, "path", path);
	if (ex->status)
		jsonw_i64(w, "status", ex->status);
	else
		jsonw_null(w, "status");
	/* peer: the server's address, when the socket was seen; quotas
	 * learn from it which endpoints to refuse connections to. */
	calls_str_or_null(w, "peer", ex->peer);
	jsonw_close(w);
	free(path);
}

static void calls_usage(struct jsonw *w, const struct llm_call *call)
{
	const struct llm_usage *u = &call->usage;

	if (!call->has_usage) {
		jsonw_null(w, "usage");
		return;
	}
	jsonw_open(w, "usage");
	jsonw_u64(w, "input_tokens", u->input_tokens);
	jsonw_u64(w, "output_tokens", u->output_tokens);
	jsonw_u64(w, "cached_input_tokens", u->cached_input_tokens);
	jsonw_u64(w, "cache_write_tokens", u->cache_write_tokens);
	jsonw_u64(w, "reasoning_tokens", u->reasoning_tokens);
	jsonw_u64(w, "total_tokens", u->total_tokens);
	jsonw_close(w);
}

/* A model served by a local Ollama runs on the user's own hardware:
 * it costs nothing unless --pricing gives it a price. A server merely
 * speaking a dialect on loopback may be a proxy to a paid API, so it
 * is not free. */
static bool calls_free_provider(const char *provider)
{
	return provider && strcmp(provider, "ollama") == 0;
}

/* The price of (provider, model), remembered: a host makes calls to a
 * few models, and the table is searched by name. */
static const struct price *calls_price(struct calls *c,
				       const char *provider,
				       const char *model)
{
	struct calls_price_memo *m;

	for (size_t i = 0; i < CALLS_PRICE_MEMO; i++) {
		m = &c->prices[i];
		if (m->provider == provider && strcmp(m->model, model) == 0)
			return m->price;
	}
	m = &c->prices[c->next_price++ % CALLS_PRICE_MEMO];
	m->price = pricing_lookup(c->pricing, provider, model);
	/* A name too long to remember is looked up every time. */
	m->provider = strlen(model) < sizeof(m->model) ? provider : NULL;
	snprintf(m->model, sizeof(m->model), "%s", model);
	return m->price;
}

/* The answering model names the price best; the requested one when
 * the response did not say or is not in the table. False when the
 * call has no price (cost_usd null). */
static bool calls_cost(struct calls *c, const struct llm_call *call,
		       double *usd)
{
	const struct price *pr = NULL;

	*usd = 0;
	if (!call->has_usage)
		return false;
	if (call->response_model)
		pr = calls_price(c, call->provider, call->response_model);
	if (!pr && call->model)
		pr = calls_price(c, call->provider, call->model);
	if (pr)
		*usd = pricing_cost(pr, &call->usage);
	return pr || calls_free_provider(call->provider);
}

static void calls_error(struct jsonw *w, const struct llm_call *call)
{
	if (!call->err_type) {
		jsonw_null(w, "error");
		return;
	}
	jsonw_open(w, "error");
	calls_str(w, "type", call->err_type);
	calls_str(w, "message", call->err_message);
	jsonw_close(w);
}

/* Hex SHA-256 of the model and the decoded request body: equal for two
 * calls a response cache could have answered alike. A hash, so no
 * part of the body (or a key pasted into it) can be read back. */
static void calls_request_hash(struct calls *c, struct jsonw *w,
			       const struct http_exchange *ex,
			       const struct llm_call *call)
{
	const char *model = call->model ? call->model : "";
	const uint8_t *body = ex->req_body.data ? ex->req_body.data :
						  (const uint8_t *)"";
	unsigned char d[DIGEST_LEN];
	char hex[DIGEST_HEX_LEN];

	if (!digest_begin(&c->hash) ||
	    !digest_add(&c->hash, model, strlen(model) + 1) ||
	    !digest_add(&c->hash, body, ex->req_body.len) ||
	    !digest_end(&c->hash, d)) {
		jsonw_null(w, "request_hash");
		return;
	}
	digest_hex(d, DIGEST_LEN, hex);
	jsonw_str(w, "request_hash", hex);
}

/* --- attribution ---------------------------------------------------- */

/* From the request the provider parsed, else from the body. */
static int calls_infer(struct calls *c, const struct http_exchange *ex,
		       const struct llm_call *call,
		       char id[SESSION_INFER_ID_LEN])
{
	if (call->request_ok)
		return session_infer_assign_view(c->sessions, ex->task.pid,
						 ex->ts_req_start,
						 &call->request,
						 jv_root(&call->request), id);
	return session_infer_assign(c->sessions, ex->task.pid,
				    ex->ts_req_start,
				    (const char *)ex->req_body.data,
				    ex->req_body.len, id);
}

/* Without a declared id, the session is inferred from the
 * conversation the body carries (see session_infer.h). */
static void calls_session(struct calls *c, struct jsonw *w,
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
	if (!id && !path && !name) {
		jsonw_null(w, "session");
		return;
	}
	jsonw_open(w, "session");
	calls_str(w, "id", id);
	calls_str(w, "path", path);
	calls_str(w, "name", name);
	jsonw_bool(w, "inferred", guessed);
	jsonw_close(w);
}

/* The property header i names, or NULL when it is not one. */
static const char *calls_prop_name(const struct hdr_list *h, size_t i)
{
	size_t plen = strlen(CALLS_H_PROP);

	if (strncasecmp(h->v[i].name, CALLS_H_PROP, plen) ||
	    !h->v[i].name[plen])
		return NULL;
	return h->v[i].name + plen;
}

static void calls_prop(struct jsonw *w, const char *name,
		       const char *value)
{
	char *key = redact_body(name, strlen(name), SIZE_MAX, NULL);

	if (key)
		calls_str(w, key, value);
	free(key);
}

/* A property sent twice is written once, where it first appears, with
 * the value sent last. */
static void calls_properties(struct jsonw *w, const struct hdr_list *h)
{
	const char *name, *value;

	jsonw_open(w, "properties");
	for (size_t i = 0; i < h->n; i++) {
		bool seen = false;

		name = calls_prop_name(h, i);
		for (size_t j = 0; name && !seen && j < i; j++)
			seen = calls_prop_name(h, j) &&
			       strcmp(calls_prop_name(h, j), name) == 0;
		if (!name || seen)
			continue;
		value = h->v[i].value;
		for (size_t j = i + 1; j < h->n; j++)
			if (calls_prop_name(h, j) &&
			    strcmp(calls_prop_name(h, j), name) == 0)
				value = h->v[j].value;
		calls_prop(w, name, value);
	}
	jsonw_close(w);
}

static void calls_attribution(struct calls *c, struct jsonw *w,
			      const struct http_exchange *ex,
			      const struct llm_call *call)
{
	const char *user = hdr_list_get(&ex->req_headers, CALLS_H_USER);

	calls_str(w, "user_id", user ? user : call->user_id);
	calls_session(c, w, ex, call);
	calls_properties(w, &ex->req_headers);
	calls_str(w, "request_id", call->request_id);
}

/* --- bodies --------------------------------------------------------- */

static void calls_body(struct jsonw *w, const char *key,
		       const char *cut_key, const struct body *b,
		       size_t limit)
{
	bool cut = false;
	char *text = redact_body(b->len ? (const char *)b->data : "", b->len,
				 limit, &cut);

	jsonw_str(w, key, text);
	if (cut || b->truncated)
		jsonw_bool(w, cut_key, true);
	free(text);
}

static void calls_headers(struct jsonw *w, const char *key,
			  const struct hdr_list *h)
{
	json_t *obj = redact_headers_json(h);
	char *text = obj ? json_dumps(obj, JSON_COMPACT) : NULL;

	if (text)
		jsonw_raw(w, key, text);
	else
		jsonw_null(w, key);
	free(text);
	json_decref(obj);
}

static void calls_bodies(struct calls *c, struct jsonw *w,
			 const struct http_exchange *ex)
{
	size_t limit = c->opts.body_limit;

	if (!c->opts.bodies)
		return;
	calls_headers(w, "request_headers", &ex->req_headers);
	calls_headers(w, "response_headers", &ex->resp_headers);
	calls_body(w, "request_body", "request_body_truncated",
		   &ex->req_body, limit);
	calls_body(w, "response_body", "response_body_truncated",
		   &ex->resp_body, limit);
}

/* --- the record ----------------------------------------------------- */

static void calls_flags(struct jsonw *w, const struct http_exchange *ex,
			const struct llm_call *call)
{
	jsonw_bool(w, "incomplete", ex->incomplete);
	if (ex->incomplete && ex->note[0])
		calls_str(w, "incomplete_reason", ex->note);
	if (ex->capture_gap)
		jsonw_bool(w, "capture_gap", true);
	if (call->parse_error)
		jsonw_str(w, "parse_error", call->parse_error);
}

/* A rate-limit policy the client declares, kept as sent; quotas honour
 * it for its scope. */
static void calls_rate_limit(struct jsonw *w, const struct http_exchange *ex)
{
	const char *policy = hdr_list_get(&ex->req_headers,
					  CALLS_H_RATE_LIMIT);

	if (policy)
		calls_str(w, "rate_limit_policy", policy);
}

static void calls_timing(struct jsonw *w, const struct http_exchange *ex,
			 const struct llm_call *call)
{
	char ts[CALLS_TS_LEN];

	calls_ts(ts, sizeof(ts), ex->ts_req_start);
	jsonw_str(w, "ts", ts);
	calls_ms(w, "duration_ms", call->duration_ns);
	if (call->has_ttft)
		calls_ms(w, "ttft_ms", call->ttft_ns);
	else
		jsonw_null(w, "ttft_ms");
}

static void calls_model(struct calls *c, struct jsonw *w,
			const struct llm_call *call)
{
	double usd;

	jsonw_str(w, "provider", call->provider);
	jsonw_str(w, "operation", call->operation);
	calls_str(w, "model", call->model);
	calls_str(w, "response_model", call->response_model);
	jsonw_bool(w, "stream", call->stream);
	calls_usage(w, call);
	c->priced = calls_cost(c, call, &usd);
	if (c->priced)
		jsonw_real(w, "cost_usd", usd, CALLS_REAL_DIGITS);
	else
		jsonw_null(w, "cost_usd");
}

/* The record as one JSON text in c->line. */
static void calls_build(struct calls *c, const struct http_exchange *ex,
			const struct llm_call *call)
{
	struct jsonw *w = &c->line;

	jsonw_reset(w);
	jsonw_open(w, NULL);
	jsonw_str(w, "type", "llm_call");
	calls_timing(w, ex, call);
	calls_process(w, ex);
	calls_http(w, ex);
	calls_model(c, w, call);
	calls_request_hash(c, w, ex, call);
	calls_attribution(c, w, ex, call);
	calls_rate_limit(w, ex);
	calls_error(w, call);
	calls_flags(w, ex, call);
	calls_bodies(c, w, ex);
	jsonw_close(w);
}

/* Fills c->line; -ENOENT when ex is not an LLM call. */
static int calls_line(struct calls *c, const struct http_exchange *ex,
		      struct llm_call *call)
{
	int err = provider_analyze(ex, call);

	if (err == 0)
		calls_build(c, ex, call);
	else if (err != -ENOENT)
		log_warn("calls: cannot read an exchange: %s", strerror(-err));
	return err;
}

/* The line read back as a tree, for those that want one. */
static json_t *calls_line_json(const struct calls *c)
{
	size_t len;
	const char *text = jsonw_text(&c->line, &len);

	return text ? json_loadb(text, len, 0, NULL) : NULL;
}

json_t *calls_record(struct calls *c, const struct http_exchange *ex)
{
	struct llm_call call;
	json_t *rec = NULL;

	if (calls_line(c, ex, &call) == 0)
		rec = calls_line_json(c);
	llm_call_clear(&call);
	return rec;
}

/* --- the sink ------------------------------------------------------- */

static void calls_count(struct calls *c, const struct http_exchange *ex,
			const struct llm_call *call)
{
	c->stats.llm_calls++;
	if (call->err_type)
		c->stats.failed++;
	if (ex->incomplete)
		c->stats.incomplete++;
	if (call->has_usage && !c->priced)
		c->stats.unpriced++;
}

static void calls_write(struct calls *c, const char *line, size_t len)
{
	int err = line ? output_write_line(c->out, line, len) : -ENOMEM;

	/* One warning, not one per record: the output may stay broken. */
	if (err && c->stats.write_errors++ == 0)
		log_warn("calls: cannot write a record: %s", strerror(-err));
}

/* Those that keep the record (store, metrics, alerts) get it as a
 * tree, parsed from the line: the line is the one definition. */
static void calls_hand_on(struct calls *c)
{
	json_t *rec;

	if (!c->opts.on_record)
		return;
	rec = calls_line_json(c);
	if (rec)
		c->opts.on_record(c->opts.on_record_ctx, rec);
	json_decref(rec);
}

static void calls_on_exchange(void *ctx, struct http_exchange *ex)
{
	struct calls *c = ctx;
	struct llm_call call;
	const char *line;
	size_t len = 0;

	c->stats.exchanges++;
	if (calls_line(c, ex, &call)) {
		c->stats.not_llm++;
		llm_call_clear(&call);
		return;
	}
	calls_count(c, ex, &call);
	llm_call_clear(&call);
	calls_hand_on(c);
	line = jsonw_text(&c->line, &len);
	calls_write(c, line, len);
}

/* Other line types (alerts) go to the same output, in order with the
 * calls: everything runs on the capture thread. */
void calls_write_json(struct calls *c, const json_t *obj)
{
	char *line;

	if (!c)
		return;
	line = json_dumps(obj, CALLS_DUMP_FLAGS);
	calls_write(c, line, line ? strlen(line) : 0);
	free(line);
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
	output_hold(c->out, o->out_hold);
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
	jsonw_free(&c->line);
	digest_free(&c->hash);
	pricing_free(c->pricing);
	session_infer_free(c->sessions);
	free(c);
}
