/* SPDX-License-Identifier: MIT */
/*
 * Alert rules (config.h) evaluated over the live llm_call records.
 *
 * Each rule, and each group of a group_by rule, keeps its own ring of
 * time buckets covering its window (width window / 60, at least 1 s):
 * requests, errors, tokens, cost and a latency sketch (sketch.h), so
 * any window length costs the same. Every evaluate_every seconds each
 * group's value is compared with the threshold:
 *
 *   ok --(over, with min_requests)--> firing --(not over)--> resolved
 *
 * and "resolved" is ok again. Each transition (and, with renotify, a
 * reminder while firing) becomes one "alert" JSON object, handed to
 * the emit callback and queued for the rule's notifiers.
 *
 * Not thread-safe: the daemon calls everything from its capture
 * thread (records and housekeeping ticks both run there).
 */
#ifndef LLMTAP_ALERTS_H
#define LLMTAP_ALERTS_H

#include <stdint.h>

#include <jansson.h>

#include "config.h"
#include "notify.h"

/* Groups per rule; the calls of any further group are folded into one
 * "(other)" group and counted. */
#define ALERTS_MAX_GROUPS 1000
/* Buckets per window; fewer when the window is under a minute. */
#define ALERTS_BUCKETS 60
/* Recent matching calls kept to name the top users, models and
 * processes of an alert; older ones fall out first. */
#define ALERTS_RECENT_MAX 4096
#define ALERTS_TOP_N 3

struct alerts_opts {
	/* Each alert object, before it is notified; borrowed. */
	void (*emit)(void *ctx, const json_t *alert);
	void *emit_ctx;
	struct notify *notify;	/* NULL: emit only */
};

struct alerts_stats {
	uint64_t calls;	/* records that matched some rule */
	uint64_t folded;	/* calls counted in an "(other)" group */
	uint64_t fired;
	uint64_t resolved;
};

struct alerts;

/* Takes cfg (freed with the alerts, or on error). NULL on no memory. */
struct alerts *alerts_new(struct config *cfg, const struct alerts_opts *o);
void alerts_free(struct alerts *a);	/* accepts NULL */

/* Switches to cfg (taken). A rule whose name and definition are
 * unchanged (config_alert_same) keeps its window and state; others
 * start empty. 0 or -ENOMEM (then the old rules stay). */
int alerts_reload(struct alerts *a, struct config *cfg);

/* A record, at now_ns (wall clock, ns since the epoch). */
void alerts_add(struct alerts *a, const json_t *rec, uint64_t now_ns);
/* Evaluates when evaluate_every has passed since the last time. */
void alerts_tick(struct alerts *a, uint64_t now_ns);
/* Evaluates every rule now. */
void alerts_evaluate(struct alerts *a, uint64_t now_ns);

void alerts_stats(const struct alerts *a, struct alerts_stats *out);
const struct config *alerts_config(const struct alerts *a);

#endif /* LLMTAP_ALERTS_H */
