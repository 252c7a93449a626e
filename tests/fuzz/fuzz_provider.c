// SPDX-License-Identifier: MIT
/*
 * libFuzzer target: the provider stage (user/provider.c, prov_*.c,
 * sse.c, ndjson.c) and the record built from it (user/calls.c). The
 * input makes one exchange:
 *   byte 0: host and path, one of ROUTES;
 *   byte 1: bits 0-1 content type, 2-3 status, 4 HTTP/2,
 *           5 incomplete, 6 capture gap;
 *   u16 request body length, the request body;
 *   then pieces (fuzz.h): response body arrivals, 1 ms apart.
 */
#include <stdlib.h>
#include <string.h>

#include "calls.h"
#include "fuzz.h"
#include "fuzz_exchange.h"
#include "provider.h"

struct route {
	const char *host;
	const char *path;
};

static const struct route ROUTES[] = {
	{ "api.openai.com", "/v1/chat/completions" },
	{ "api.openai.com", "/v1/responses" },
	{ "api.openai.com", "/v1/embeddings" },
	{ "api.openai.com", "/v1/completions" },
	{ "api.anthropic.com", "/v1/messages" },
	{ "generativelanguage.googleapis.com",
	  "/v1beta/models/gemini-2.0-flash:generateContent?key=k" },
	{ "generativelanguage.googleapis.com",
	  "/v1beta/models/gemini-2.0-flash:streamGenerateContent?alt=sse" },
	{ "generativelanguage.googleapis.com",
	  "/v1beta/models/gemini-2.0-flash:streamGenerateContent" },
	{ "localhost:11434", "/api/chat" },
	{ "localhost:11434", "/api/generate" },
	{ "localhost:11434", "/api/embed" },
	{ "res.openai.azure.com",
	  "/openai/deployments/gpt4o/chat/completions?api-version=1" },
	{ "127.0.0.1:8080", "/v1/chat/completions" },
	{ "example.com", "/api/chat" },
	{ "api.groq.com", "/openai/v1/chat/completions" },
	{ "example.com", "/index.html" },
};
#define N_ROUTES (sizeof(ROUTES) / sizeof(ROUTES[0]))

static const char *const CTYPES[] = {
	"application/json", "text/event-stream; charset=utf-8",
	"application/x-ndjson", NULL,
};
static const int STATUSES[] = { 200, 400, 429, 500 };

static struct calls *calls;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	struct calls_opts o = { .out_path = "/dev/null", .bodies = true };

	fz_quiet();
	calls = calls_new(&o);
	return calls ? 0 : 1;
}

static void add_hdr(struct hdr_list *l, const char *n, const char *v)
{
	hdr_list_add(l, n, strlen(n), v, strlen(v));
}

/* The exchange's request side from the route and the input. */
static void fz_request(struct http_exchange *ex, struct fz *f, int r)
{
	const struct route *rt = &ROUTES[(size_t)r % N_ROUTES];
	size_t len = fz_u16(f);

	if (len > f->n)
		len = f->n;
	ex->method = strdup("POST");
	ex->path = strdup(rt->path);
	ex->authority = strdup(rt->host);
	add_hdr(&ex->req_headers, "content-type", "application/json");
	add_hdr(&ex->req_headers, "Helicone-Session-Id", "s1");
	body_append(&ex->req_body, f->p, len, FZ_T0);
	f->p += len;
	f->n -= len;
	ex->ts_req_start = FZ_T0;
	ex->ts_req_end = FZ_T0 + FZ_MS;
}

static void fz_response(struct http_exchange *ex, struct fz *f, int bits)
{
	const char *ct = CTYPES[bits & 3];
	struct fz_piece pc;
	uint64_t ts = FZ_T0 + 2 * FZ_MS;

	ex->status = STATUSES[(bits >> 2) & 3];
	if (ct)
		add_hdr(&ex->resp_headers, "Content-Type", ct);
	add_hdr(&ex->resp_headers, "x-request-id", "req_fuzz");
	ex->ts_resp_start = ts;
	while (fz_next(f, &pc))
		body_append(&ex->resp_body, pc.data, pc.len, ts += FZ_MS);
	ex->ts_resp_end = ts + FZ_MS;
	ex->http_version = bits & 0x10 ? 20 : 11;
	ex->incomplete = bits & 0x20;
	ex->capture_gap = bits & 0x40;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fz f = { data, size };
	int route = fz_byte(&f), bits = fz_byte(&f);
	struct http_exchange *ex;
	struct llm_call call;
	json_t *rec;

	if (bits < 0)
		return 0;
	ex = exchange_new();
	if (!ex)
		return 0;
	ex->task = (struct ev_task){ .ts_ns = FZ_T0, .pid = 7, .tid = 7 };
	fz_request(ex, &f, route);
	fz_response(ex, &f, bits);
	provider_analyze(ex, &call);
	llm_call_clear(&call);
	rec = calls_record(calls, ex);
	if (rec) {
		char *s = json_dumps(rec, JSON_COMPACT);

		if (!s)
			abort();
		free(s);
		json_decref(rec);
	}
	exchange_free(ex);
	return 0;
}
