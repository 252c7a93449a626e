/* SPDX-License-Identifier: MIT */
/*
 * The daemon's YAML configuration (README.md, 'Alerts'): notification
 * channels and alert rules, loaded with libyaml into plain structs.
 * Loading checks everything it can (types, units, references between
 * rules and channels) and reports every problem as
 * "FILE:LINE: FIELD: what is wrong", so a broken file is rejected as a
 * whole, never half applied.
 */
#ifndef LLMTAP_CONFIG_H
#define LLMTAP_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "quota.h"

#define CONFIG_DEFAULT_PATH "/etc/llmtap/llmtap.yaml"
/* Limits that bound a hostile or mistaken file. */
#define CONFIG_MAX_BYTES (1u << 20)
#define CONFIG_MAX_ALERTS 64
#define CONFIG_MAX_NOTIFIERS 64
#define CONFIG_MAX_LIST 32	/* where keys, notify names, recipients */
/* Longest value a where clause may compare: alerts keep call
 * attributes in fixed fields of this size. */
#define CONFIG_MAX_VALUE 63
#define CONFIG_MAX_ERRORS 100
/* Distinct property names all rules together may filter or group on:
 * alerts keeps their values for each recent call. */
#define CONFIG_MAX_PROPERTIES 4
#define CONFIG_EVALUATE_DEFAULT_S 5
#define CONFIG_EXEC_TIMEOUT_DEFAULT_S 10

enum config_notifier_type {
	CONFIG_SLACK,
	CONFIG_WEBHOOK,
	CONFIG_EMAIL,
	CONFIG_EXEC,
};

struct config_notifier {
	char *name;
	enum config_notifier_type type;
	char *url;	/* slack, webhook */
	char *channel;	/* slack; NULL: the webhook's own */
	char *smtp_url;	/* email: smtp:// or smtps:// */
	char *from;
	char **to;
	size_t n_to;
	char *command;	/* exec: /bin/sh -c, alert JSON on stdin */
	unsigned timeout_s;	/* exec: killed past this */
	int line;
};

enum config_metric {
	CONFIG_ERROR_RATE,
	CONFIG_COST,
	CONFIG_REQUESTS,
	CONFIG_TOKENS,
	CONFIG_LATENCY_P50,
	CONFIG_LATENCY_P95,
	CONFIG_LATENCY_P99,
	CONFIG_TTFT_P95,
};

enum config_op { CONFIG_GT, CONFIG_GE, CONFIG_LT, CONFIG_LE };

/* A call attribute a rule can filter or group on. */
enum config_attr {
	CONFIG_ATTR_PROVIDER,
	CONFIG_ATTR_MODEL,
	CONFIG_ATTR_USER_ID,
	CONFIG_ATTR_PROCESS,	/* the command name (comm) */
	CONFIG_ATTR_UID,
	CONFIG_ATTR_PROPERTY,	/* a Helicone-Property-NAME */
};

struct config_key {
	enum config_attr attr;
	char *property;	/* CONFIG_ATTR_PROPERTY: NAME */
	char *text;	/* as written: "user_id", "property.Environment" */
};

struct config_where {
	struct config_key key;
	char *value;
};

struct config_alert {
	char *name;
	enum config_metric metric;
	enum config_op op;
	double threshold;	/* in the metric's unit: %, USD, ms, count */
	char *threshold_text;	/* as written */
	uint64_t window_s;
	char *window_text;
	uint64_t min_requests;
	struct config_where *where;
	size_t n_where;
	bool grouped;
	struct config_key group_by;
	char *severity;	/* info, warning or critical */
	size_t *notify;	/* indexes into config.notifiers */
	size_t n_notify;
	uint64_t renotify_s;	/* 0: notify once per firing */
	int line;
};

struct config {
	char *path;
	struct quota_rule *quotas;	/* the quotas: list */
	size_t n_quotas;
	unsigned evaluate_every_s;
	struct config_notifier *notifiers;
	size_t n_notifiers;
	struct config_alert *alerts;
	size_t n_alerts;
};

/* What loading found wrong, one line each, in file order. */
struct config_diag {
	char **msgs;
	size_t *lines;	/* each message's line, to keep them in order */
	size_t n;
};

/* Parses text (named name in messages). NULL when anything is wrong,
 * with every problem in diag (up to CONFIG_MAX_ERRORS). */
struct config *config_parse(const char *text, size_t len,
			    const char *name, struct config_diag *diag);
/* The same for a file (at most CONFIG_MAX_BYTES). */
struct config *config_load(const char *path, struct config_diag *diag);
void config_free(struct config *c);	/* accepts NULL */
void config_diag_clear(struct config_diag *d);

/* Logs every message of d as an error. */
void config_diag_log(const struct config_diag *d);

/* Parsers the loader uses, exposed for tests. 0 or -EINVAL. */
int config_parse_duration(const char *s, uint64_t *out_s);
const char *config_metric_name(enum config_metric m);
const char *config_op_name(enum config_op op);
const char *config_type_name(enum config_notifier_type t);

/* The distinct property names the rules use (where, group_by), in
 * first-use order; returns how many (at most max). */
size_t config_properties(const struct config *c, const char **names,
			 size_t max);

/* Whether two rules aggregate and compare alike (name included), so
 * a reload may keep one's state for the other. */
bool config_alert_same(const struct config_alert *a,
		       const struct config_alert *b);

#endif /* LLMTAP_CONFIG_H */
