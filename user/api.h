/* SPDX-License-Identifier: MIT */
/*
 * The HTTP API of the daemon (libmicrohttpd, one internal thread):
 *
 *   GET /healthz                  {"status":"ok", uptime, calls, losses}
 *   GET /metrics                  Prometheus text (prom.h)
 *   GET /api/v1/metrics?by=&window=[&filters]   live aggregates
 *   GET /api/v1/calls?user=&session=&model=&since=&limit=&offset=
 *   GET /api/v1/users?top=&os=1
 *   GET /api/v1/sessions?top=     GET /api/v1/sessions/ID
 *   GET /api/v1/cache
 *   GET /api/v1/timeseries?window=1h&step=60   (store_series.h)
 *   GET /  and  GET /assets/NAME  the web dashboard (web.h)
 *
 * The /api/v1 calls, users, sessions and cache answers come from the
 * store (store.h) as it returns them; without a store they are 503.
 * Errors are JSON, {"error": "..."}: 400 for a bad parameter (unknown
 * ones included), 404, 405 for anything but GET and HEAD, 414 for a
 * query over API_MAX_QUERY_BYTES.
 *
 * With a token (api_opts.token), every request but the dashboard's
 * own files must carry "Authorization: Bearer TOKEN", else 401. The
 * dashboard's files hold no data, and the browser cannot add a header
 * to a page load; its script sends the token with each API request.
 * Without a token the API listens on a loopback address only.
 */
#ifndef LLMTAP_API_H
#define LLMTAP_API_H

#include <stdint.h>

#include "metrics.h"
#include "prom.h"

#define API_DEFAULT_LISTEN "127.0.0.1:9470"
#define API_MAX_CONNECTIONS 32
/* Idle connections close after this; a slow client holds no slot. */
#define API_TIMEOUT_S 10
/* Per-connection memory, which bounds a request's header. */
#define API_CONN_MEMORY (32u << 10)
/* The URL path and query parameters together. */
#define API_MAX_QUERY_BYTES 4096
#define API_CALLS_LIMIT_DEFAULT 50
#define API_CALLS_LIMIT_MAX 1000
#define API_OFFSET_MAX 1000000
#define API_TOP_DEFAULT 20
#define API_TOP_MAX 10000
/* A token shorter than this is too easy to guess. */
#define API_TOKEN_MIN 16
#define API_TOKEN_MAX 4096
#define API_TOKEN_ENV "LLMTAP_API_TOKEN"

struct api_opts {
	const char *listen;	/* "IPV4:PORT"; NULL: API_DEFAULT_LISTEN;
				 * port 0 picks a free one */
	struct metrics *metrics;
	struct prom *prom;
	const char *db_path;	/* the store; NULL: none (503) */
	const char *pricing_path;	/* for /api/v1/cache; NULL: shipped */
	const char *token;	/* bearer token; NULL: none, loopback only */
	/* Extra /healthz fields, merged in; NULL or returning NULL: none.
	 * Called from the API thread. */
	json_t *(*health)(void *ctx);
	void *health_ctx;
};

struct api;

/* Listening when it returns; NULL after logging why (a bad address,
 * the port taken, the store not readable). */
struct api *api_start(const struct api_opts *o);
/* Stops the thread and closes everything; accepts NULL. */
void api_stop(struct api *a);
/* The port it listens on. */
uint16_t api_port(const struct api *a);

/* The token: from the first line of path (--api-token FILE, so it
 * never shows in ps), else from $LLMTAP_API_TOKEN, which is then
 * removed from the environment. 0 with *out NULL when neither is set;
 * 0 with a token to pass as api_opts.token and free with
 * api_token_free; or a negative errno after logging why (missing,
 * shorter than API_TOKEN_MIN, a space). Never logs the token. */
int api_token_load(const char *path, char **out);
/* Wipes and frees what api_token_load gave; accepts NULL. */
void api_token_free(char *token);

#endif /* LLMTAP_API_H */
