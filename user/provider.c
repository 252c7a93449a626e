// SPDX-License-Identifier: MIT
/*
 * Recognition and the dialect-independent half of reading a call: the
 * per-dialect halves live in prov_openai.c, prov_anthropic.c,
 * prov_gemini.c and prov_ollama.c behind struct prov_ops.
 */
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "ndjson.h"
#include "provider.h"

/* Ollama's documented default port. */
#define PROV_OLLAMA_PORT 11434
/* Room for a model name taken from a URL path. */
#define PROV_NAME_MAX 256

struct prov_host {
	const char *domain;	/* matches itself and its subdomains */
	const char *name;
};

static const struct prov_host prov_hosts[] = {
	{ "api.openai.com", "openai" },
	{ "openai.azure.com", "azure" },
	{ "cognitiveservices.azure.com", "azure" },
	{ "services.ai.azure.com", "azure" },
	{ "openrouter.ai", "openrouter" },
	{ "api.groq.com", "groq" },
	{ "api.together.xyz", "together" },
	{ "api.together.ai", "together" },
	{ "api.mistral.ai", "mistral" },
	{ "codestral.mistral.ai", "mistral" },
	{ "api.deepseek.com", "deepseek" },
	{ "api.x.ai", "xai" },
	{ "api.anthropic.com", "anthropic" },
	{ "generativelanguage.googleapis.com", "gemini" },
	{ "aiplatform.googleapis.com", "vertex_ai" },
};

struct prov_suffix {
	const char *suffix;
	enum prov_dialect dialect;
	const char *operation;
};

/* Longest first: "/chat/completions" must win over "/completions",
 * and Ollama's "/api/embeddings" over OpenAI's "/embeddings". Ollama's
 * paths are suffixes too, as proxies mount them under a prefix (Open
 * WebUI's /ollama/api/chat). */
static const struct prov_suffix prov_suffixes[] = {
	{ "/chat/completions", PROV_OPENAI, "chat" },
	{ "/completions", PROV_OPENAI, "completions" },
	{ "/api/embeddings", PROV_OLLAMA, "embeddings" },
	{ "/embeddings", PROV_OPENAI, "embeddings" },
	{ "/responses", PROV_OPENAI, "responses" },
	{ "/v1/messages", PROV_ANTHROPIC, "messages" },
	{ "/api/chat", PROV_OLLAMA, "chat" },
	{ "/api/generate", PROV_OLLAMA, "completions" },
	{ "/api/embed", PROV_OLLAMA, "embeddings" },
};

struct prov_gmethod {
	const char *method;
	const char *operation;
	bool stream;
};

static const struct prov_gmethod prov_gmethods[] = {
	{ "generateContent", "generate_content", false },
	{ "streamGenerateContent", "generate_content", true },
	{ "embedContent", "embed_content", false },
	{ "batchEmbedContents", "embed_content", false },
};

struct prov_hostinfo {
	char name[EV_HOST_LEN];	/* lower case, without the port */
	int port;	/* 0 if unknown */
};

/* --- small helpers over the JSON view ------------------------------- */

uint64_t prov_juint(const struct jview *v, int obj, const char *key)
{
	return jv_uint(v, jv_get(v, obj, key));
}

void prov_set_str(char **dst, const char *s)
{
	char *d;

	if (!s)
		return;
	d = strdup(s);
	if (!d)
		return;	/* a missing string is not worth failing the call */
	free(*dst);
	*dst = d;
}

void prov_set_once(char **dst, const char *s)
{
	if (!*dst)
		prov_set_str(dst, s);
}

void prov_set_jstr(char **dst, const struct jview *v, int obj,
		   const char *key)
{
	char *s = jv_strdup(v, jv_get(v, obj, key));

	if (!s)
		return;
	free(*dst);
	*dst = s;
}

void prov_set_jonce(char **dst, const struct jview *v, int obj,
		    const char *key)
{
	if (!*dst)
		prov_set_jstr(dst, v, obj, key);
}

void prov_set_error_strs(struct llm_call *c, const char *type,
			 const char *message)
{
	if (c->err_type)
		return;	/* the first error is the cause */
	prov_set_str(&c->err_type, type);
	prov_set_str(&c->err_message, message);
}

/* A code may be a string or an integer; "" if neither. */
static char *prov_code_str(const struct jview *v, int code)
{
	size_t n;
	const char *raw;

	if (jv_is_string(v, code))
		return jv_strdup(v, code);
	if (!jv_is_integer(v, code))
		return strdup("");
	raw = jv_raw(v, code, &n);
	return strndup(raw, n);
}

/* OpenAI {"type","message","code"}, Anthropic {"type","message"},
 * Gemini {"code","message","status"}; some servers send a string. */
void prov_set_error(struct llm_call *c, const struct jview *v, int err)
{
	char *type, *code, *message;

	if (c->err_type)
		return;
	if (jv_is_string(v, err)) {
		message = jv_strdup(v, err);
		prov_set_error_strs(c, "error", message);
		free(message);
		return;
	}
	if (!jv_is_object(v, err))
		return;
	code = prov_code_str(v, jv_get(v, err, "code"));
	type = jv_strdup(v, jv_get(v, err, "type"));
	if (!type)
		type = jv_strdup(v, jv_get(v, err, "status"));
	message = jv_strdup(v, jv_get(v, err, "message"));
	prov_set_error_strs(c, type ? type : code && code[0] ? code : "error",
			    message);
	free(type);
	free(code);
	free(message);
}

static ptrdiff_t prov_count_find(const struct prov_counts *raw,
				 const char *key)
{
	for (size_t i = 0; i < raw->n; i++)
		if (strcmp(raw->kv[i].key, key) == 0)
			return (ptrdiff_t)i;
	return -1;
}

uint64_t prov_count(const struct prov_counts *raw, const char *key)
{
	ptrdiff_t i = prov_count_find(raw, key);

	return i < 0 ? 0 : raw->kv[i].value;
}

bool prov_has_count(const struct prov_counts *raw, const char *key)
{
	return prov_count_find(raw, key) >= 0;
}

static void prov_count_put(struct prov_counts *raw, const char *key,
			   uint64_t value)
{
	ptrdiff_t i = prov_count_find(raw, key);

	if (i < 0) {
		/* Usage objects have a dozen members; more are dropped. */
		if (raw->n == PROV_COUNTS_MAX ||
		    strlen(key) >= PROV_COUNT_KEY_LEN)
			return;
		i = (ptrdiff_t)raw->n++;
		snprintf(raw->kv[i].key, PROV_COUNT_KEY_LEN, "%s", key);
	}
	raw->kv[i].value = value;
}

/* Drops "prefix.*": a nested object merged in replaces the old one
 * whole, as a member of the usage object would be. */
static void prov_count_drop_nested(struct prov_counts *raw,
				   const char *prefix, size_t plen)
{
	size_t o = 0;

	for (size_t i = 0; i < raw->n; i++) {
		if (strncmp(raw->kv[i].key, prefix, plen) == 0 &&
		    raw->kv[i].key[plen] == '.')
			continue;
		raw->kv[o++] = raw->kv[i];
	}
	raw->n = o;
}

/* One member of a usage object: an integer, or an object of them. */
static void prov_count_member(struct prov_counts *raw,
			      const struct jview *v, int key)
{
	char *name = jv_strdup(v, key), *sub, path[PROV_COUNT_KEY_LEN];
	int val = key + 1, k;

	if (!name)
		return;
	prov_count_drop_nested(raw, name, strlen(name));
	if (!jv_is_object(v, val)) {
		prov_count_put(raw, name, jv_uint(v, val));
		free(name);
		return;
	}
	k = val + 1;
	for (int m = 0; m < jv_size(v, val) && k != JV_NONE; m++) {
		sub = jv_strdup(v, k);
		if (sub && snprintf(path, sizeof(path), "%s.%s", name, sub) <
				   (int)sizeof(path))
			prov_count_put(raw, path, jv_uint(v, k + 1));
		free(sub);
		k = jv_skip(v, k);
	}
	free(name);
}

void prov_take_usage(struct llm_call *c, const struct jview *v, int u,
		     bool merge)
{
	int k = u + 1;

	if (!jv_is_object(v, u))
		return;
	if (!merge || !c->has_counts)
		c->counts.n = 0;
	c->has_counts = true;
	for (int m = 0; m < jv_size(v, u) && k != JV_NONE; m++) {
		prov_count_member(&c->counts, v, k);
		k = jv_skip(v, k);
	}
}

void prov_set_count(struct llm_call *c, const char *key, uint64_t value)
{
	c->has_counts = true;
	prov_count_put(&c->counts, key, value);
}

bool prov_event_mentions(const struct sse_event *ev,
			 const char *const *words, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (memmem(ev->data, ev->len, words[i], strlen(words[i])))
			return true;
	return false;
}

void prov_mark_content(struct llm_call *c, uint64_t ts_ns)
{
	if (c->has_ttft || !c->stream)
		return;
	c->has_ttft = true;
	c->ttft_ns = ts_ns > c->ts_start ? ts_ns - c->ts_start : 0;
}

void llm_call_clear(struct llm_call *call)
{
	if (!call)
		return;
	free(call->model);
	free(call->response_model);
	free(call->user_id);
	free(call->request_id);
	free(call->err_type);
	free(call->err_message);
	free(call->body_id);
	jview_free(&call->request);
	memset(call, 0, sizeof(*call));
}

/* --- recognition ---------------------------------------------------- */

static bool prov_domain_match(const char *host, const char *domain)
{
	size_t hl = strlen(host);
	size_t dl = strlen(domain);

	if (hl == dl)
		return strcmp(host, domain) == 0;
	return hl > dl && host[hl - dl - 1] == '.' &&
	       strcmp(host + hl - dl, domain) == 0;
}

static int prov_port_of(const char *s)
{
	const char *colon = strrchr(s, ':');

	if (!colon || !isdigit((unsigned char)colon[1]))
		return 0;
	return atoi(colon + 1);
}

static void prov_host_info(const struct http_exchange *ex,
			   struct prov_hostinfo *h)
{
	const char *src = ex->authority && ex->authority[0] ?
			  ex->authority : ex->sni;
	size_t i, n = 0;
	bool v6 = src[0] == '[';

	for (i = v6; src[i] && n + 1 < sizeof(h->name); i++) {
		if ((v6 && src[i] == ']') || (!v6 && src[i] == ':'))
			break;
		h->name[n++] = (char)tolower((unsigned char)src[i]);
	}
	h->name[n] = '\0';
	h->port = src[i] ? prov_port_of(src + i) : 0;
	if (!h->port && ex->peer[0])
		h->port = prov_port_of(ex->peer);
}

static bool prov_is_loopback(const char *host)
{
	return strcmp(host, "localhost") == 0 ||
	       strncmp(host, "127.", 4) == 0 || strcmp(host, "::1") == 0;
}

static const char *prov_dialect_name(enum prov_dialect d, bool compat)
{
	switch (d) {
	case PROV_OPENAI:
		return compat ? "openai_compatible" : "openai";
	case PROV_ANTHROPIC:
		return compat ? "anthropic_compatible" : "anthropic";
	case PROV_GEMINI:
		return compat ? "gemini_compatible" : "gemini";
	case PROV_OLLAMA:
		return compat ? "ollama_compatible" : "ollama";
	default:
		return "unknown";
	}
}

/*
 * The provider is named by the host first: a known API host names
 * itself whatever dialect it speaks (Gemini's OpenAI-compatible path is
 * "gemini"). Ollama is its default port or a host named so. A loopback
 * host (a local proxy, a test mock) is named by the dialect of its
 * path, so /v1/messages on 127.0.0.1 is "anthropic". Any other host is
 * "<dialect>_compatible", e.g. a vLLM server is "openai_compatible".
 */
static const char *prov_known_host(const struct prov_hostinfo *h)
{
	size_t i;

	for (i = 0; i < sizeof(prov_hosts) / sizeof(prov_hosts[0]); i++) {
		if (prov_domain_match(h->name, prov_hosts[i].domain))
			return prov_hosts[i].name;
	}
	return NULL;
}

static bool prov_ollama_host(const struct prov_hostinfo *h)
{
	return h->port == PROV_OLLAMA_PORT || strstr(h->name, "ollama");
}

static const char *prov_name(const struct prov_hostinfo *h,
			     enum prov_dialect d)
{
	const char *known = prov_known_host(h);

	if (known)
		return known;
	if (prov_ollama_host(h))
		return "ollama";
	return prov_dialect_name(d, !prov_is_loopback(h->name));
}

static size_t prov_path_len(const char *path)
{
	return strcspn(path, "?#");
}

/* ".../models/NAME:method" as Gemini and Vertex AI spell it. */
static const struct prov_gmethod *prov_gemini_path(const char *path,
						   size_t n)
{
	const char *m = memmem(path, n, "/models/", 8);
	const char *colon;
	size_t i, mlen;

	if (!m)
		return NULL;
	colon = memchr(m + 8, ':', n - (size_t)(m + 8 - path));
	if (!colon)
		return NULL;
	mlen = n - (size_t)(colon + 1 - path);
	for (i = 0; i < sizeof(prov_gmethods) / sizeof(prov_gmethods[0]);
	     i++) {
		if (strlen(prov_gmethods[i].method) == mlen &&
		    memcmp(colon + 1, prov_gmethods[i].method, mlen) == 0)
			return &prov_gmethods[i];
	}
	return NULL;
}

static enum prov_dialect prov_path_dialect(const char *path,
					   const char **op)
{
	size_t n = prov_path_len(path);
	const struct prov_gmethod *g = prov_gemini_path(path, n);
	size_t i, sl;

	if (g) {
		*op = g->operation;
		return PROV_GEMINI;
	}
	for (i = 0; i < sizeof(prov_suffixes) / sizeof(prov_suffixes[0]);
	     i++) {
		sl = strlen(prov_suffixes[i].suffix);
		if (n >= sl && memcmp(path + n - sl, prov_suffixes[i].suffix,
				      sl) == 0) {
			*op = prov_suffixes[i].operation;
			return prov_suffixes[i].dialect;
		}
	}
	return PROV_NONE;
}

enum prov_dialect provider_classify(const struct http_exchange *ex,
				    const char **provider,
				    const char **operation)
{
	const char *op = NULL;
	struct prov_hostinfo h;
	enum prov_dialect d;

	*provider = NULL;
	*operation = NULL;
	/* Every generating endpoint is a POST; GETs list or fetch. */
	if (!ex->method || strcmp(ex->method, "POST") || !ex->path)
		return PROV_NONE;
	d = prov_path_dialect(ex->path, &op);
	if (d == PROV_NONE)
		return PROV_NONE;
	prov_host_info(ex, &h);
	/* A cloud API's /api/chat is its own business, not Ollama. */
	if (d == PROV_OLLAMA && prov_known_host(&h))
		return PROV_NONE;
	*provider = prov_name(&h, d);
	*operation = op;
	return d;
}

/* Copies the path segment after marker (e.g. "/models/") up to one of
 * the stop characters; returns false if the marker is absent. */
static bool prov_path_segment(const char *path, const char *marker,
			      const char *stop, char *out, size_t len)
{
	size_t n = prov_path_len(path);
	const char *m = memmem(path, n, marker, strlen(marker));
	size_t seg;

	if (!m)
		return false;
	m += strlen(marker);
	seg = strcspn(m, stop);
	if (seg > (size_t)(path + n - m))
		seg = (size_t)(path + n - m);
	if (seg == 0 || seg >= len)
		return false;
	memcpy(out, m, seg);
	out[seg] = '\0';
	return true;
}

/* --- reading the bodies --------------------------------------------- */

static const struct prov_ops *prov_ops_of(enum prov_dialect d)
{
	switch (d) {
	case PROV_OPENAI:
		return &prov_openai_ops;
	case PROV_ANTHROPIC:
		return &prov_anthropic_ops;
	case PROV_GEMINI:
		return &prov_gemini_ops;
	case PROV_OLLAMA:
		return &prov_ollama_ops;
	default:
		return NULL;
	}
}

struct prov_run {
	struct llm_call *call;
	const struct prov_ops *ops;
	uint64_t json_lines;	/* NDJSON lines that were JSON */
	struct jview view;	/* the response or the current event */
};

/* The body as JSON into v: its root, or JV_NONE. */
static int prov_load(struct jview *v, const struct body *b)
{
	if (!b->len)
		return JV_NONE;
	if (jview_parse(v, (const char *)b->data, b->len))
		return JV_NONE;
	return jv_root(v);
}

static void prov_parse_request(struct prov_run *r,
			       const struct http_exchange *ex)
{
	struct llm_call *c = r->call;
	int req = prov_load(&c->request, &ex->req_body);

	c->request_ok = req != JV_NONE;
	if (!c->request_ok && ex->req_body.len)
		c->parse_error = ex->req_body.truncated ?
				 "request body cut" :
				 "request body is not JSON";
	if (c->request_ok && r->ops->request)
		r->ops->request(c, &c->request, req);
}

/* The generic part of any response object: a top-level error. */
static void prov_response_object(struct prov_run *r, int obj)
{
	int err = jv_get(&r->view, obj, "error");

	if (jv_is_object(&r->view, err) || jv_is_string(&r->view, err))
		prov_set_error(r->call, &r->view, err);
	if (r->ops->response)
		r->ops->response(r->call, &r->view, obj);
}

static void prov_parse_json(struct prov_run *r, int body)
{
	int el;

	if (jv_is_object(&r->view, body)) {
		prov_response_object(r, body);
		return;
	}
	/* Gemini's streamGenerateContent without alt=sse: an array. */
	el = jv_first(&r->view, body);
	for (int k = 0; k < jv_size(&r->view, body) && el != JV_NONE; k++) {
		if (jv_is_object(&r->view, el))
			prov_response_object(r, el);
		el = jv_skip(&r->view, el);
	}
}

/* One stream item, an SSE event or an NDJSON line, with its JSON. */
static void prov_stream_item(struct prov_run *r,
			     const struct sse_event *ev, int data)
{
	int err = jv_get(&r->view, data, "error");

	r->call->events++;
	if (ev->oversize)
		r->call->parse_error = "stream event over the size limit";
	if (jv_is_object(&r->view, err) || jv_is_string(&r->view, err))
		prov_set_error(r->call, &r->view, err);
	if (r->ops->event)
		r->ops->event(r->call, ev, &r->view, data);
}

/* An event's data as JSON into the run's view: its root or JV_NONE. */
static int prov_load_event(struct prov_run *r, const char *data,
			   size_t len)
{
	if (!len || (data[0] != '{' && data[0] != '['))
		return JV_NONE;
	if (jview_parse(&r->view, data, len))
		return JV_NONE;
	return jv_root(&r->view);
}

static int prov_on_event(void *ctx, const struct sse_event *ev)
{
	struct prov_run *r = ctx;

	/* Most of a stream is text deltas that change nothing once the
	 * first has been timed: reading each was a tenth of replay. */
	if (r->ops->idle && !ev->oversize && r->ops->idle(r->call, ev)) {
		r->call->events++;
		return 0;
	}
	prov_stream_item(r, ev, prov_load_event(r, ev->data, ev->len));
	return 0;
}

/* An NDJSON line goes to the dialect as an event of type "ndjson";
 * its data is not NUL-terminated. A cut line is not parsed. */
static int prov_on_line(void *ctx, const struct ndjson_line *l)
{
	struct prov_run *r = ctx;
	struct sse_event ev = {
		.type = "ndjson", .data = l->data, .len = l->len,
		.ts_ns = l->ts_ns, .oversize = l->oversize,
		.unterminated = l->unterminated,
	};
	int data = JV_NONE;

	while (ev.len && isspace((unsigned char)ev.data[0])) {
		ev.data++;
		ev.len--;
	}
	if (!l->oversize)
		data = prov_load_event(r, ev.data, ev.len);
	if (data != JV_NONE)
		r->json_lines++;
	prov_stream_item(r, &ev, data);
	return 0;
}

/* Fed arrival by arrival, so each line carries its own time. */
static int prov_parse_ndjson(struct prov_run *r, const struct body *b,
			     uint64_t ts_default)
{
	struct ndjson_parser *p = ndjson_parser_new(prov_on_line, r);
	uint64_t ts = ts_default;
	int err = 0;
	size_t i;

	if (!p)
		return -ENOMEM;
	for (i = 0; i < b->nsegs && !err; i++) {
		ts = b->segs[i].ts_ns;
		err = ndjson_parser_feed(p, (const char *)b->data +
					 b->segs[i].off, b->segs[i].len, ts);
	}
	if (!b->nsegs)
		err = ndjson_parser_feed(p, (const char *)b->data, b->len,
					 ts);
	if (!err)
		err = ndjson_parser_finish(p, ts);
	ndjson_parser_free(p);
	return err;
}

static int prov_parse_sse(struct prov_run *r, const struct body *b,
			  uint64_t ts_default)
{
	struct sse_parser *p = sse_parser_new(prov_on_event, r);
	uint64_t ts = ts_default;
	int err = 0;
	size_t i;

	if (!p)
		return -ENOMEM;
	for (i = 0; i < b->nsegs && !err; i++) {
		ts = b->segs[i].ts_ns;
		err = sse_parser_feed(p, (const char *)b->data + b->segs[i].off,
				      b->segs[i].len, ts);
	}
	if (!b->nsegs)
		err = sse_parser_feed(p, (const char *)b->data, b->len, ts);
	if (!err)
		err = sse_parser_finish(p, ts);
	sse_parser_free(p);
	return err;
}

/* The first non-blank byte says which: JSON, an event stream, or
 * neither (an HTML error page, say). */
static char prov_body_kind(const struct body *b)
{
	size_t i = 0;

	while (i < b->len && isspace(b->data[i]))
		i++;
	if (i == b->len)
		return 0;
	if (b->data[i] == '{' || b->data[i] == '[')
		return 'j';
	if (b->data[i] == ':' || !strncmp((const char *)b->data + i,
					  "data:", 5) ||
	    !strncmp((const char *)b->data + i, "event:", 6))
		return 's';
	return 0;
}

static int prov_parse_response(struct prov_run *r,
			       const struct http_exchange *ex)
{
	const struct body *b = &ex->resp_body;
	char kind = prov_body_kind(b);
	int body, err;

	if (kind == 's') {
		/* An event stream even if nobody said so. */
		r->call->stream = true;
		return prov_parse_sse(r, b, ex->ts_resp_start);
	}
	if (kind == 'j' && r->ops->ndjson) {
		err = prov_parse_ndjson(r, b, ex->ts_resp_start);
		/* No line was JSON: maybe one object over many lines. */
		if (err || r->json_lines)
			return err;
	}
	body = kind == 'j' ? prov_load(&r->view, b) : JV_NONE;
	if (body == JV_NONE && b->len && ex->status < 400)
		r->call->parse_error = b->truncated || ex->incomplete ?
				       "response body cut" :
				       "response body is not JSON";
	if (body != JV_NONE)
		prov_parse_json(r, body);
	return 0;
}

/* --- finishing ------------------------------------------------------ */

static uint64_t prov_last_seen(const struct http_exchange *ex)
{
	const struct body *b = &ex->resp_body;
	uint64_t t = ex->ts_resp_end;

	if (t)
		return t;
	if (b->nsegs && b->segs[b->nsegs - 1].ts_ns > t)
		t = b->segs[b->nsegs - 1].ts_ns;
	if (ex->ts_resp_start > t)
		t = ex->ts_resp_start;
	if (ex->ts_req_end > t)
		t = ex->ts_req_end;
	return t;
}

static void prov_finish_ids(struct llm_call *c,
			    const struct http_exchange *ex)
{
	static const char *const names[] = {
		"x-request-id", "request-id", "x-goog-request-id",
		"apim-request-id",
	};
	const char *v = NULL;
	size_t i;

	for (i = 0; !v && i < sizeof(names) / sizeof(names[0]); i++)
		v = hdr_list_get(&ex->resp_headers, names[i]);
	prov_set_str(&c->request_id, v ? v : c->body_id);
}

static void prov_finish(struct prov_run *r, const struct http_exchange *ex)
{
	struct llm_call *c = r->call;
	uint64_t end = prov_last_seen(ex);
	char msg[32];

	if (c->has_counts && r->ops->usage) {
		r->ops->usage(&c->counts, &c->usage);
		c->usage.total_tokens = c->usage.input_tokens +
					c->usage.output_tokens;
		c->has_usage = true;
	}
	if (ex->status >= 400 && !c->err_type) {
		snprintf(msg, sizeof(msg), "HTTP %d", ex->status);
		prov_set_str(&c->err_type, "http_error");
		prov_set_str(&c->err_message, msg);
	}
	prov_finish_ids(c, ex);
	c->duration_ns = end > c->ts_start ? end - c->ts_start : 0;
}

/* Model names that come from the URL rather than the body. */
static void prov_path_model(struct llm_call *c,
			    const struct http_exchange *ex)
{
	char name[PROV_NAME_MAX];

	if (c->dialect == PROV_GEMINI &&
	    prov_path_segment(ex->path, "/models/", ":", name, sizeof(name)))
		prov_set_str(&c->model, name);
	/* Azure bills by deployment; the response says which model. */
	if (prov_path_segment(ex->path, "/openai/deployments/", "/", name,
			      sizeof(name))) {
		if (c->response_model)
			prov_set_str(&c->model, c->response_model);
		else
			prov_set_once(&c->model, name);
	}
}

static bool prov_is_stream(const struct http_exchange *ex,
			   const struct llm_call *c)
{
	const char *ct = hdr_list_get(&ex->resp_headers, "content-type");
	const char *q = strchr(ex->path, '?');

	if (c->stream)
		return true;	/* the request asked for it */
	if (ct && (strcasestr(ct, "text/event-stream") ||
		   strcasestr(ct, "application/x-ndjson")))
		return true;
	return c->dialect == PROV_GEMINI && strstr(ex->path, ":stream") &&
	       (!q || strstr(ex->path, ":stream") < q);
}

/*
 * "/api/chat" is a common path for any web app's own chat endpoint.
 * Unless the host is Ollama's (its port, or named so), the Ollama
 * dialect needs a request naming a model, which Ollama requires.
 */
static bool prov_ollama_sure(const struct http_exchange *ex,
			     const struct llm_call *c)
{
	struct prov_hostinfo h;

	if (c->dialect != PROV_OLLAMA || c->model)
		return true;
	prov_host_info(ex, &h);
	return prov_ollama_host(&h);
}

int provider_analyze(const struct http_exchange *ex, struct llm_call *call)
{
	struct prov_run r = { .call = call };
	int err;

	memset(call, 0, sizeof(*call));
	call->dialect = provider_classify(ex, &call->provider,
					  &call->operation);
	if (call->dialect == PROV_NONE)
		return -ENOENT;
	r.ops = prov_ops_of(call->dialect);
	call->ts_start = ex->ts_req_start;

	prov_parse_request(&r, ex);
	if (!prov_ollama_sure(ex, call))
		return -ENOENT;
	call->stream = prov_is_stream(ex, call);

	err = prov_parse_response(&r, ex);
	jview_free(&r.view);
	if (err)
		return err;

	prov_path_model(call, ex);
	prov_finish(&r, ex);
	return 0;
}
