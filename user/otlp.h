/* SPDX-License-Identifier: MIT */
/*
 * OpenTelemetry export: each llm_call record becomes one span, sent
 * in batches over OTLP/HTTP with the JSON encoding
 * (https://opentelemetry.io/docs/specs/otlp/, "OTLP/HTTP"), with the
 * GenAI semantic conventions for its attributes
 * (https://opentelemetry.io/docs/specs/semconv/gen-ai/).
 *
 * A worker thread does the sending, so the capture never waits on the
 * network: spans wait in a bounded queue that drops its oldest when
 * full, and a failed batch is retried with exponential backoff,
 * honouring Retry-After.
 */
#ifndef LLMTAP_OTLP_H
#define LLMTAP_OTLP_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#define OTLP_HEADERS_MAX 16
/* Spans waiting to be sent; past this the oldest are dropped. */
#define OTLP_QUEUE_DEFAULT 8192
/* The batch limit and the longest a span waits for its batch. */
#define OTLP_BATCH_DEFAULT 512
#define OTLP_FLUSH_MS_DEFAULT 1000
/* How long stopping may spend sending what is queued. */
#define OTLP_SHUTDOWN_MS_DEFAULT 5000

#define OTLP_TRACE_ID_LEN 16
#define OTLP_SPAN_ID_LEN 8

struct otlp_opts {
	const char *url;	/* e.g. http://127.0.0.1:4318/v1/traces */
	/* "Name: value" lines sent with every request; never logged. */
	const char *headers[OTLP_HEADERS_MAX];
	size_t nheaders;
	size_t queue_max;	/* 0: OTLP_QUEUE_DEFAULT */
	size_t batch_max;	/* 0: OTLP_BATCH_DEFAULT */
	unsigned flush_ms;	/* 0: OTLP_FLUSH_MS_DEFAULT */
	unsigned shutdown_ms;	/* 0: OTLP_SHUTDOWN_MS_DEFAULT */
};

struct otlp_stats {
	uint64_t queued;	/* spans accepted */
	uint64_t sent;	/* spans the receiver took */
	uint64_t dropped;	/* oldest spans pushed out of a full queue */
	uint64_t failed;	/* spans given up on, or rejected */
	uint64_t retries;	/* requests sent again */
};

struct otlp;

/* Adds "NAME:VALUE" (an --otlp-header argument) to o. 0, or -EINVAL
 * (logged without the value) when it is malformed or one too many. */
int otlp_add_header(struct otlp_opts *o, const char *arg);

/* Starts the worker; NULL, after logging why, on error. */
struct otlp *otlp_new(const struct otlp_opts *o);
/* Sends what is queued (for a few seconds at most), then frees. */
void otlp_free(struct otlp *x);

/* Queues rec's span; never blocks on the network. rec is borrowed. */
void otlp_add(struct otlp *x, const json_t *rec);
void otlp_stats(struct otlp *x, struct otlp_stats *out);

/* The span for rec with these ids, or NULL if out of memory. */
json_t *otlp_span(const json_t *rec, const uint8_t *trace_id,
		  const uint8_t *span_id);
/* An ExportTraceServiceRequest holding spans (stolen) under a
 * resource naming this host; NULL if out of memory. */
json_t *otlp_request(json_t *spans, const char *host_name);

#endif /* LLMTAP_OTLP_H */
