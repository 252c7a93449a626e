// SPDX-License-Identifier: MIT
/*
 * The HTTP API: libmicrohttpd with one internal polling thread. Every
 * request is answered on that thread, so the read-only store handle
 * below is only ever used by it. The metrics and prom counters are fed
 * from the capture thread and carry their own locks.
 *
 * The store: a separate read-only SQLite handle, not the daemon's. The
 * store writes in WAL mode, where readers and the one writer do not
 * block each other, so a slow query here never delays the capture loop
 * (a shared handle and a lock would).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>

#include <microhttpd.h>
#include <openssl/crypto.h>
#include <openssl/sha.h>

#include "api.h"
#include "log.h"
#include "store.h"
#include "store_series.h"
#include "web.h"

#define API_JSON_TYPE "application/json"
#define API_SESSIONS_PREFIX "/api/v1/sessions/"
#define API_MAX_ID_BYTES 256
#define API_ERR_LEN 160
/* RFC 6750 section 2.1; the scheme is case-insensitive (RFC 7235). */
#define API_BEARER "Bearer "
#define API_LOOPBACK_NET 127u	/* 127.0.0.0/8 */

struct api {
	struct MHD_Daemon *d;
	struct metrics *metrics;
	struct prom *prom;
	struct store *store;	/* NULL: run without a store */
	bool has_token;
	/* Only the token's digest is kept: nothing to leak in a core. */
	unsigned char token_sha[SHA256_DIGEST_LENGTH];
	uint16_t port;
	uint64_t started_s;	/* CLOCK_MONOTONIC */
	json_t *(*health)(void *ctx);
	void *health_ctx;
};

/* One request and, once handled, its answer. */
struct api_req {
	struct api *api;
	struct MHD_Connection *conn;
	const char *url;
	unsigned status;
	json_t *json;	/* the body, unless text is set */
	char *text;	/* /metrics */
	struct web_asset asset;	/* the dashboard's, when data is set */
	char err[API_ERR_LEN];
};

struct api_route {
	const char *path;	/* exact, or a prefix ending in '/' */
	const char *const *params;	/* those it accepts, NULL-ended */
	bool needs_store;
	void (*handle)(struct api_req *r);
};

static uint64_t api_mono_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec;
}

static uint64_t api_wall_s(void)
{
	return (uint64_t)time(NULL);
}

/* ---- answers ---- */

__attribute__((format(printf, 3, 4)))
static void api_fail(struct api_req *r, unsigned status, const char *fmt,
		     ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(r->err, sizeof(r->err), fmt, ap);
	va_end(ap);
	r->status = status;
}

/* A store or metrics answer; NULL means the query failed (logged). */
static void api_json(struct api_req *r, json_t *v)
{
	if (!v) {
		api_fail(r, MHD_HTTP_INTERNAL_SERVER_ERROR, "query failed");
		return;
	}
	r->status = MHD_HTTP_OK;
	r->json = v;
}

/* ---- parameters ---- */

static const char *api_arg(struct api_req *r, const char *name)
{
	const char *v = MHD_lookup_connection_value(
		r->conn, MHD_GET_ARGUMENT_KIND, name);

	return v && *v ? v : NULL;
}

/* An integer parameter in [min, max]; def when absent. */
static int api_int(struct api_req *r, const char *name, long long def,
		   long long min, long long max, long long *out)
{
	const char *v = api_arg(r, name);
	char *end;

	*out = def;
	if (!v)
		return 0;
	errno = 0;
	*out = strtoll(v, &end, 10);
	if (errno || *end || *out < min || *out > max) {
		api_fail(r, MHD_HTTP_BAD_REQUEST,
			 "%s must be an integer from %lld to %lld", name, min,
			 max);
		return -EINVAL;
	}
	return 0;
}

/* A time: seconds since the epoch, or an age like 30s, 15m, 2h, 7d. */
static int api_time(struct api_req *r, const char *name, uint64_t *out_ns)
{
	static const char units[] = "smhd";
	static const uint64_t unit_s[] = { 1, 60, 3600, 86400 };
	const char *v = api_arg(r, name), *u;
	unsigned long long n;
	char *end;

	*out_ns = 0;
	if (!v)
		return 0;
	errno = 0;
	n = strtoull(v, &end, 10);
	u = *end ? strchr(units, *end) : NULL;
	if (errno || end == v || v[0] == '-' || (*end && (!u || end[1])) ||
	    n > 1e10) {
		api_fail(r, MHD_HTTP_BAD_REQUEST, "%s must be seconds since "
			 "the epoch or an age like 15m, 2h, 7d", name);
		return -EINVAL;
	}
	if (u) {
		uint64_t now = api_wall_s(), age = n * unit_s[u - units];

		n = age > now ? 0 : now - age;
	}
	*out_ns = n * 1000000000ull;
	return 0;
}

static int api_filter(struct api_req *r, struct store_filter *f)
{
	long long uid;

	memset(f, 0, sizeof(*f));
	f->user_id = api_arg(r, "user");
	f->session_id = api_arg(r, "session");
	f->model = api_arg(r, "model");
	f->provider = api_arg(r, "provider");
	f->process = api_arg(r, "process");
	if (api_int(r, "uid", -1, -1, UINT32_MAX, &uid) ||
	    api_time(r, "since", &f->since_ns) ||
	    api_time(r, "until", &f->until_ns))
		return -EINVAL;
	f->uid = uid;
	return 0;
}

/* ---- handlers ---- */

/* Capture losses, connections the pipeline stopped following, calls
 * the store could not keep and bodies cut by the memory budget. */
static json_t *api_losses(const struct prom_totals *t)
{
	return json_pack("{s:I, s:I, s:I, s:I, s:I, s:I}", "ringbuf_drops",
			 (json_int_t)t->ringbuf_drops, "truncated_calls",
			 (json_int_t)t->truncated_calls, "read_failures",
			 (json_int_t)t->read_failures, "connections_evicted",
			 (json_int_t)t->conns_evicted, "store_dropped",
			 (json_int_t)t->store_dropped, "bodies_cut",
			 (json_int_t)t->bodies_cut);
}

static void api_healthz(struct api_req *r)
{
	struct metrics_stats ms;
	struct prom_totals t;

	json_t *out, *extra = NULL;

	prom_totals(r->api->prom, &t);
	metrics_stats(r->api->metrics, &ms);
	out = json_pack(
		"{s:s, s:I, s:I, s:o, s:I, s:b}", "status", "ok",
		"uptime_s", (json_int_t)(api_mono_s() - r->api->started_s),
		"calls", (json_int_t)t.calls, "losses", api_losses(&t),
		"series", (json_int_t)ms.series, "store",
		r->api->store != NULL);
	if (out && r->api->health)
		extra = r->api->health(r->api->health_ctx);
	if (extra)
		json_object_update(out, extra);
	json_decref(extra);
	api_json(r, out);
}

static void api_prom(struct api_req *r)
{
	r->text = prom_render(r->api->prom, NULL);
	if (!r->text)
		api_fail(r, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory");
	else
		r->status = MHD_HTTP_OK;
}

/* property=NAME:VALUE filters on one property. */
static int api_metrics_filter(struct api_req *r, struct metrics_filter *f,
			      char *prop, size_t prop_len)
{
	const char *p = api_arg(r, "property");
	long long uid;
	char *colon;

	memset(f, 0, sizeof(*f));
	f->provider = api_arg(r, "provider");
	f->model = api_arg(r, "model");
	f->process = api_arg(r, "process");
	f->user_id = api_arg(r, "user");
	f->session = api_arg(r, "session");
	if (api_int(r, "uid", -1, -1, UINT32_MAX, &uid))
		return -EINVAL;
	f->uid = uid;
	if (!p)
		return 0;
	snprintf(prop, prop_len, "%s", p);
	colon = strchr(prop, ':');
	if (!colon || colon == prop) {
		api_fail(r, MHD_HTTP_BAD_REQUEST,
			 "property must be NAME:VALUE");
		return -EINVAL;
	}
	*colon = '\0';
	f->prop_name = prop;
	f->prop_value = colon + 1;
	return 0;
}

static void api_metrics(struct api_req *r)
{
	const char *by = api_arg(r, "by") ? api_arg(r, "by") : "all";
	const char *win = api_arg(r, "window") ? api_arg(r, "window")
					       : "total";
	char prop[API_MAX_QUERY_BYTES];
	struct metrics_filter f;
	json_t *groups;
	int w = metrics_window_parse(win);

	if (w < 0 || !metrics_by_valid(by)) {
		api_fail(r, MHD_HTTP_BAD_REQUEST, w < 0 ?
			 "window must be 1m, 10m, 1h, 1d or total" :
			 "by must be provider, model, process, exe, uid, "
			 "user, user_id, session, container, property:NAME "
			 "or all");
		return;
	}
	if (api_metrics_filter(r, &f, prop, sizeof(prop)))
		return;
	if (metrics_query_filtered(r->api->metrics, by, w, &f, api_wall_s(),
				   &groups)) {
		api_json(r, NULL);
		return;
	}
	api_json(r, json_pack("{s:s, s:s, s:o}", "window",
			      metrics_window_name(w), "by", by, "groups",
			      groups));
}

static void api_calls(struct api_req *r)
{
	struct store_filter f;
	long long limit, offset;

	if (api_filter(r, &f) ||
	    api_int(r, "limit", API_CALLS_LIMIT_DEFAULT, 1,
		    API_CALLS_LIMIT_MAX, &limit) ||
	    api_int(r, "offset", 0, 0, API_OFFSET_MAX, &offset))
		return;
	api_json(r, store_calls(r->api->store, &f, (int)limit, (int)offset));
}

static void api_users(struct api_req *r)
{
	struct store_filter f;
	long long top, os;

	if (api_filter(r, &f) ||
	    api_int(r, "top", API_TOP_DEFAULT, 0, API_TOP_MAX, &top) ||
	    api_int(r, "os", 0, 0, 1, &os))
		return;
	api_json(r, store_users(r->api->store, &f, os, (int)top));
}

static void api_sessions(struct api_req *r)
{
	struct store_filter f;
	long long top;

	if (api_filter(r, &f) ||
	    api_int(r, "top", API_TOP_DEFAULT, 0, API_TOP_MAX, &top))
		return;
	api_json(r, store_sessions(r->api->store, &f, (int)top));
}

static void api_session(struct api_req *r)
{
	const char *id = r->url + strlen(API_SESSIONS_PREFIX);
	json_t *v;

	if (!*id || strlen(id) > API_MAX_ID_BYTES) {
		api_fail(r, MHD_HTTP_BAD_REQUEST,
			 "a session id of 1 to %d bytes", API_MAX_ID_BYTES);
		return;
	}
	v = store_session(r->api->store, id);
	if (!v) {
		api_fail(r, MHD_HTTP_NOT_FOUND, "no session with that id");
		return;
	}
	api_json(r, v);
}

/* window=W (an age: 1h, 30m, 7d) and step=SECONDS (default: the
 * window over 60), at most STORE_SERIES_MAX_POINTS steps, ending now. */
static void api_series(struct api_req *r)
{
	struct store_filter f;
	uint64_t since_ns, now = api_wall_s(), win_s, n;
	long long step;

	if (api_filter(r, &f) || api_time(r, "window", &since_ns))
		return;
	win_s = since_ns ? now - since_ns / 1000000000ull : 3600;
	if (api_int(r, "step", win_s / 60 ? (long long)(win_s / 60) : 1, 1,
		    86400, &step))
		return;
	n = (win_s + (uint64_t)step - 1) / (uint64_t)step;
	if (!n || n > STORE_SERIES_MAX_POINTS) {
		api_fail(r, MHD_HTTP_BAD_REQUEST, "window over step must be "
			 "1 to %d points", STORE_SERIES_MAX_POINTS);
		return;
	}
	/* Steps line up on multiples of step, the last one holding now. */
	api_json(r, store_series(r->api->store, &f,
				 (now / step + 1 - n) * step, step,
				 (unsigned)n));
}

static void api_cache(struct api_req *r)
{
	struct store_filter f;

	if (api_filter(r, &f))
		return;
	api_json(r, store_cache(r->api->store, &f));
}

/* Alert and enforcement lines, newest first, from the store. */
static void api_events(struct api_req *r, const char *type,
		       const char *key)
{
	long long limit;
	json_t *ev, *out;

	if (api_int(r, "limit", API_TOP_DEFAULT, 1, API_TOP_MAX, &limit))
		return;
	ev = store_events(r->api->store, type, (int)limit);
	out = ev ? json_pack("{s:O}", key, json_object_get(ev, "events"))
		 : NULL;
	json_decref(ev);
	api_json(r, out);
}

static void api_alerts(struct api_req *r)
{
	api_events(r, "alert", "alerts");
}

static void api_enforcements(struct api_req *r)
{
	api_events(r, "enforcement", "enforcements");
}

/* ---- routing ---- */

#define API_FILTER_PARAMS \
	"user", "session", "model", "provider", "process", "uid", "since", \
		"until"

static const char *const api_no_params[] = { NULL };
static const char *const api_metrics_params[] = {
	"by", "window", "property", API_FILTER_PARAMS, NULL,
};
static const char *const api_calls_params[] = {
	"limit", "offset", API_FILTER_PARAMS, NULL,
};
static const char *const api_users_params[] = {
	"top", "os", API_FILTER_PARAMS, NULL,
};
static const char *const api_top_params[] = {
	"top", API_FILTER_PARAMS, NULL,
};
static const char *const api_filter_params[] = { API_FILTER_PARAMS, NULL };
static const char *const api_limit_params[] = { "limit", NULL };
static const char *const api_series_params[] = {
	"window", "step", "user", "model", "provider", "process", NULL,
};

static const struct api_route api_routes[] = {
	{ "/healthz", api_no_params, false, api_healthz },
	{ "/metrics", api_no_params, false, api_prom },
	{ "/api/v1/metrics", api_metrics_params, false, api_metrics },
	{ "/api/v1/calls", api_calls_params, true, api_calls },
	{ "/api/v1/users", api_users_params, true, api_users },
	{ "/api/v1/sessions", api_top_params, true, api_sessions },
	{ API_SESSIONS_PREFIX, api_no_params, true, api_session },
	{ "/api/v1/cache", api_filter_params, true, api_cache },
	{ "/api/v1/alerts", api_limit_params, true, api_alerts },
	{ "/api/v1/enforcements", api_limit_params, true,
	  api_enforcements },
	{ "/api/v1/timeseries", api_series_params, true, api_series },
};

static const struct api_route *api_route_of(const char *url)
{
	size_t i;

	for (i = 0; i < sizeof(api_routes) / sizeof(api_routes[0]); i++) {
		const char *p = api_routes[i].path;
		size_t n = strlen(p);

		if (p[n - 1] == '/' ? !strncmp(url, p, n) : !strcmp(url, p))
			return &api_routes[i];
	}
	return NULL;
}

struct api_args_check {
	const char *const *allowed;
	size_t bytes;
	const char *unknown;
};

static enum MHD_Result api_arg_visit(void *cls, enum MHD_ValueKind kind,
				     const char *key, const char *value)
{
	struct api_args_check *c = cls;
	size_t i;

	c->bytes += strlen(key) + (value ? strlen(value) : 0) + 2;
	for (i = 0; c->allowed[i]; i++)
		if (!strcmp(key, c->allowed[i]))
			return MHD_YES;
	if (!c->unknown)
		c->unknown = key;
	return MHD_YES;
}

/* 0 when the query is small enough and names known parameters only. */
static int api_check_args(struct api_req *r, const struct api_route *rt)
{
	struct api_args_check c = { .allowed = rt->params,
				    .bytes = strlen(r->url) };

	MHD_get_connection_values(r->conn, MHD_GET_ARGUMENT_KIND,
				  api_arg_visit, &c);
	if (c.bytes > API_MAX_QUERY_BYTES) {
		api_fail(r, MHD_HTTP_URI_TOO_LONG, "query over %d bytes",
			 API_MAX_QUERY_BYTES);
		return -E2BIG;
	}
	if (c.unknown) {
		api_fail(r, MHD_HTTP_BAD_REQUEST, "unknown parameter '%.64s'",
			 c.unknown);
		return -EINVAL;
	}
	return 0;
}

/* Digests are compared, with CRYPTO_memcmp: the time taken tells
 * neither how much of a guess matched nor the token's length. */
static bool api_authorized(struct api_req *r)
{
	unsigned char got[SHA256_DIGEST_LENGTH];
	const char *h;

	if (!r->api->has_token || web_is_path(r->url))
		return true;
	h = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND,
					MHD_HTTP_HEADER_AUTHORIZATION);
	if (!h || strncasecmp(h, API_BEARER, strlen(API_BEARER)))
		return false;
	h += strlen(API_BEARER);
	SHA256((const unsigned char *)h, strlen(h), got);
	return !CRYPTO_memcmp(got, r->api->token_sha, sizeof(got));
}

static void api_dispatch(struct api_req *r, const char *method)
{
	const struct api_route *rt;

	if (!api_authorized(r)) {
		api_fail(r, MHD_HTTP_UNAUTHORIZED, "a bearer token is "
			 "required: Authorization: Bearer TOKEN");
		return;
	}
	if (strcmp(method, MHD_HTTP_METHOD_GET) &&
	    strcmp(method, MHD_HTTP_METHOD_HEAD)) {
		api_fail(r, MHD_HTTP_METHOD_NOT_ALLOWED, "only GET");
		return;
	}
	if (web_is_path(r->url)) {
		if (web_find(r->url, &r->asset))
			api_fail(r, MHD_HTTP_NOT_FOUND, "no such file");
		else
			r->status = MHD_HTTP_OK;
		return;
	}
	rt = api_route_of(r->url);
	if (!rt) {
		api_fail(r, MHD_HTTP_NOT_FOUND, "no such endpoint");
		return;
	}
	if (api_check_args(r, rt))
		return;
	if (rt->needs_store && !r->api->store) {
		api_fail(r, MHD_HTTP_SERVICE_UNAVAILABLE,
			 "no call store: the daemon runs without one");
		return;
	}
	rt->handle(r);
}

static void api_add_headers(struct MHD_Response *resp, const char *type)
{
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, type);
	MHD_add_response_header(resp, "Content-Security-Policy", WEB_CSP);
	MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
	/* Answers are live: never reuse one without asking. */
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL,
				"no-cache");
}

/* A dashboard file: served from the binary's memory, never copied. */
static struct MHD_Response *api_asset_response(struct api_req *r)
{
	struct MHD_Response *resp = MHD_create_response_from_buffer(
		r->asset.len, (void *)r->asset.data, MHD_RESPMEM_PERSISTENT);

	if (resp)
		api_add_headers(resp, r->asset.type);
	return resp;
}

static struct MHD_Response *api_response(struct api_req *r)
{
	const char *type = r->text ? PROM_CONTENT_TYPE : API_JSON_TYPE;
	struct MHD_Response *resp;
	char *body = r->text;

	if (r->asset.data && r->status == MHD_HTTP_OK)
		return api_asset_response(r);
	if (!body) {
		json_t *v = r->json ? r->json
				    : json_pack("{s:s}", "error", r->err);

		body = v ? json_dumps(v, JSON_COMPACT) : NULL;
		if (v != r->json)
			json_decref(v);
	}
	r->text = NULL;
	if (!body)
		return NULL;
	resp = MHD_create_response_from_buffer(strlen(body), body,
					       MHD_RESPMEM_MUST_FREE);
	if (!resp) {
		free(body);
		return NULL;
	}
	api_add_headers(resp, type);
	if (r->status == MHD_HTTP_METHOD_NOT_ALLOWED)
		MHD_add_response_header(resp, MHD_HTTP_HEADER_ALLOW,
					"GET, HEAD");
	if (r->status == MHD_HTTP_UNAUTHORIZED)
		MHD_add_response_header(resp,
					MHD_HTTP_HEADER_WWW_AUTHENTICATE,
					"Bearer realm=\"llmtap\"");
	return resp;
}

static enum MHD_Result api_handle(void *cls, struct MHD_Connection *conn,
				  const char *url, const char *method,
				  const char *version, const char *upload,
				  size_t *upload_size, void **con_cls)
{
	struct api_req r = { .api = cls, .conn = conn, .url = url };
	struct MHD_Response *resp;
	enum MHD_Result ret;

	/* Answered at once, before any body: no endpoint takes one. */
	api_dispatch(&r, method);
	resp = api_response(&r);
	json_decref(r.json);
	if (!resp)
		return MHD_NO;	/* out of memory: drop the connection */
	ret = MHD_queue_response(conn, r.status, resp);
	MHD_destroy_response(resp);
	return ret;
}

/* ---- start and stop ---- */

static int api_parse_listen(const char *s, struct sockaddr_in *sa)
{
	const char *colon = strrchr(s, ':');
	char host[INET_ADDRSTRLEN];
	unsigned long port;
	char *end;

	memset(sa, 0, sizeof(*sa));
	if (!colon || (size_t)(colon - s) >= sizeof(host))
		return -EINVAL;
	memcpy(host, s, (size_t)(colon - s));
	host[colon - s] = '\0';
	errno = 0;
	port = strtoul(colon + 1, &end, 10);
	if (errno || end == colon + 1 || *end || port > UINT16_MAX ||
	    inet_pton(AF_INET, host, &sa->sin_addr) != 1)
		return -EINVAL;
	sa->sin_family = AF_INET;
	sa->sin_port = htons((uint16_t)port);
	return 0;
}

static uint16_t api_bound_port(struct MHD_Daemon *d)
{
	const union MHD_DaemonInfo *info =
		MHD_get_daemon_info(d, MHD_DAEMON_INFO_LISTEN_FD);
	struct sockaddr_in sa;
	socklen_t len = sizeof(sa);

	if (!info ||
	    getsockname(info->listen_fd, (struct sockaddr *)&sa, &len))
		return 0;
	return ntohs(sa.sin_port);
}

static int api_open_store(struct api *a, const struct api_opts *o)
{
	struct store_opts so = { .path = o->db_path, .read_only = true,
				 .pricing_path = o->pricing_path };

	if (!o->db_path)
		return 0;
	a->store = store_open(&so);
	return a->store ? 0 : -EIO;
}

/* libmicrohttpd's own messages (a bad request, a closed client) are
 * per event: debug only. Failures to start are logged by api_start. */
static void api_mhd_log(void *cls, const char *fmt, va_list ap)
{
	char msg[256];
	size_t n;

	vsnprintf(msg, sizeof(msg), fmt, ap);
	n = strlen(msg);
	while (n && msg[n - 1] == '\n')
		msg[--n] = '\0';
	log_debug("API: %s", msg);
}

static struct MHD_Daemon *api_daemon(struct api *a, struct sockaddr_in *sa)
{
	return MHD_start_daemon(
		MHD_USE_AUTO_INTERNAL_THREAD | MHD_USE_ERROR_LOG, 0, NULL,
		NULL, api_handle, a, MHD_OPTION_SOCK_ADDR, sa,
		MHD_OPTION_CONNECTION_LIMIT, (unsigned)API_MAX_CONNECTIONS,
		MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)API_TIMEOUT_S,
		MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)API_CONN_MEMORY,
		MHD_OPTION_EXTERNAL_LOGGER, api_mhd_log, NULL,
		MHD_OPTION_END);
}

static bool api_is_loopback(const struct sockaddr_in *sa)
{
	return ntohl(sa->sin_addr.s_addr) >> 24 == API_LOOPBACK_NET;
}

/* The address, and whether it may be used: beyond this host, the
 * calls, users and costs are served only to who has the token. */
static int api_check_listen(const char *listen, const struct api_opts *o,
			    struct sockaddr_in *sa)
{
	if (api_parse_listen(listen, sa)) {
		log_err("--listen wants IPV4:PORT, such as %s, not '%s'",
			API_DEFAULT_LISTEN, listen);
		return -EINVAL;
	}
	if (!o->token && !api_is_loopback(sa)) {
		log_err("--listen %s is not a loopback address: give the API "
			"a token first (--api-token FILE)", listen);
		return -EPERM;
	}
	return 0;
}

struct api *api_start(const struct api_opts *o)
{
	const char *listen = o->listen ? o->listen : API_DEFAULT_LISTEN;
	struct sockaddr_in sa;
	struct api *a;

	if (api_check_listen(listen, o, &sa))
		return NULL;
	a = calloc(1, sizeof(*a));
	if (!a)
		return NULL;
	if (o->token) {
		a->has_token = true;
		SHA256((const unsigned char *)o->token, strlen(o->token),
		       a->token_sha);
	}
	a->metrics = o->metrics;
	a->prom = o->prom;
	a->health = o->health;
	a->health_ctx = o->health_ctx;
	a->started_s = api_mono_s();
	if (api_open_store(a, o)) {
		api_stop(a);
		return NULL;
	}

	a->d = api_daemon(a, &sa);
	if (!a->d) {
		log_err("API: cannot listen on %s (in use, or not an "
			"address of this host?)", listen);
		api_stop(a);
		return NULL;
	}
	a->port = api_bound_port(a->d);
	log_info("API on http://%s:%u/%s", inet_ntoa(sa.sin_addr), a->port,
		 a->has_token ? " (a bearer token required)" : "");
	return a;
}

void api_stop(struct api *a)
{
	if (!a)
		return;
	if (a->d)
		MHD_stop_daemon(a->d);
	store_close(a->store);
	free(a);
}

uint16_t api_port(const struct api *a)
{
	return a->port;
}

/* ---- the token ---- */

#define API_TOKEN_BUF (API_TOKEN_MAX + 2)	/* the line, '\n', NUL */

/* Printable ASCII without spaces: what a header value carries as is. */
static int api_token_check(const char *t, const char *from)
{
	size_t n = strlen(t);
	const char *c;

	for (c = t; *c; c++) {
		if (*c <= ' ' || *c > '~')
			break;
	}
	if (*c || n < API_TOKEN_MIN || n > API_TOKEN_MAX) {
		log_err("%s: the API token must be %d to %d printable "
			"characters, no spaces, on one line", from,
			API_TOKEN_MIN, API_TOKEN_MAX);
		return -EINVAL;
	}
	return 0;
}

static void api_token_check_mode(FILE *f, const char *path)
{
	struct stat st;

	if (!fstat(fileno(f), &st) && (st.st_mode & (S_IRWXG | S_IRWXO)))
		log_warn("%s: the API token is readable by others (mode "
			 "%03o); chmod 600 it", path, st.st_mode & 0777);
}

static int api_token_file(const char *path, char *buf)
{
	FILE *f = fopen(path, "re");

	if (!f) {
		log_err("%s: cannot read the API token: %s", path,
			strerror(errno));
		return -errno;
	}
	api_token_check_mode(f, path);
	if (!fgets(buf, API_TOKEN_BUF, f))
		buf[0] = '\0';
	fclose(f);
	buf[strcspn(buf, "\r\n")] = '\0';
	return api_token_check(buf, path);
}

/* The environment's copy is removed: exec notifiers must not see it. */
static int api_token_env(char *buf)
{
	const char *v = getenv(API_TOKEN_ENV);

	snprintf(buf, API_TOKEN_BUF, "%s", v);
	unsetenv(API_TOKEN_ENV);
	return api_token_check(buf, API_TOKEN_ENV);
}

int api_token_load(const char *path, char **out)
{
	char *buf;
	int err;

	*out = NULL;
	if (!path && !getenv(API_TOKEN_ENV))
		return 0;
	buf = calloc(1, API_TOKEN_BUF);
	if (!buf)
		return -ENOMEM;
	err = path ? api_token_file(path, buf) : api_token_env(buf);
	if (err) {
		api_token_free(buf);
		return err;
	}
	*out = buf;
	return 0;
}

void api_token_free(char *token)
{
	if (!token)
		return;
	explicit_bzero(token, API_TOKEN_BUF);
	free(token);
}
