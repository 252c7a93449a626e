/* SPDX-License-Identifier: MIT */
/*
 * Delivery of alerts to their channels (config.h notifiers): Slack
 * incoming webhooks, JSON webhooks, email over SMTP (libcurl) and a
 * local command that reads the alert on stdin.
 *
 * notify_send only builds the message and queues it; one worker
 * thread delivers, so a slow or dead channel never holds up capture.
 * The queue is bounded: when full the oldest message is dropped and
 * counted. A failed delivery is tried again after 1, 2, 4 and 8 s
 * (NOTIFY_TRIES in all), other messages going out meanwhile.
 */
#ifndef LLMTAP_NOTIFY_H
#define LLMTAP_NOTIFY_H

#include <stdint.h>

#include <jansson.h>

#include "config.h"

#define NOTIFY_QUEUE_MAX 256
#define NOTIFY_TRIES 5
#define NOTIFY_BACKOFF_FIRST_MS 1000
#define NOTIFY_CONNECT_TIMEOUT_S 5
#define NOTIFY_TIMEOUT_S 10

struct notify_stats {
	uint64_t queued;
	uint64_t sent;
	uint64_t retries;	/* attempts after a first failure */
	uint64_t failed;	/* given up after NOTIFY_TRIES */
	uint64_t dropped;	/* pushed out of a full queue */
};

struct notify;

/* Starts the worker. NULL, after logging why, on error. */
struct notify *notify_new(void);
/* Stops the worker after its current attempt; what is still queued is
 * dropped and logged. Accepts NULL. */
void notify_free(struct notify *n);

/* Queues alert (an alerts.h object) for nf; copies what it needs.
 * 0, or -ENOMEM. Never blocks on the network. */
int notify_send(struct notify *n, const struct config_notifier *nf,
		const json_t *alert);

void notify_stats(struct notify *n, struct notify_stats *out);

/* Message texts, exposed for tests. Callers free them. */
char *notify_text(const json_t *alert);	/* one-line summary */
char *notify_slack_payload(const struct config_notifier *nf,
			   const json_t *alert);
char *notify_email(const struct config_notifier *nf, const json_t *alert);

#endif /* LLMTAP_NOTIFY_H */
