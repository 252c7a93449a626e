/* SPDX-License-Identifier: MIT */
/*
 * Quotas: limits on cost, tokens or requests per sliding window, per
 * uid, process, cgroup, user_id, session or for everything. Over the
 * limit, a quota alerts, or blocks: for the OS scopes (uid, process,
 * cgroup) new connections to LLM endpoints are refused in the kernel
 * until the window has freed budget again. Every change is a JSON line
 * of type "enforcement".
 *
 * Clients may also declare a limit with the Helicone-RateLimit-Policy
 * header ("100;w=3600;u=request;s=user"): it becomes a quota for its
 * scope with the action alert.
 */
#ifndef LLMTAP_QUOTA_H
#define LLMTAP_QUOTA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "llmtap.h"

#define QUOTA_NAME_LEN 64
#define QUOTA_RULES_MAX 64
/* Distinct keys a quota tracks; past it new keys are counted, not
 * tracked. */
#define QUOTA_KEYS_MAX 4096

enum quota_scope {
	QUOTA_GLOBAL,
	QUOTA_UID,
	QUOTA_PROCESS,	/* comm */
	QUOTA_CGROUP,	/* container id, enforced by cgroup */
	QUOTA_USER_ID,
	QUOTA_SESSION,
};

enum quota_metric {
	QUOTA_REQUESTS,
	QUOTA_TOKENS,
	QUOTA_COST,
};

enum quota_action {
	QUOTA_ALERT,
	QUOTA_BLOCK,
};

struct quota_rule {
	char name[QUOTA_NAME_LEN];
	enum quota_scope scope;
	enum quota_metric metric;
	double limit;	/* requests, tokens, or USD */
	uint64_t window_s;
	enum quota_action action;
};

/* How a quota reaches the world. */
struct quota_hooks {
	void *ctx;
	/* Start or stop refusing connections from who; 0 when the kernel
	 * enforces it, a negative errno when it cannot (then: alert). */
	int (*block)(void *ctx, const struct lt_blocked *who, bool on);
	/* An LLM endpoint seen in a record ("addr:port"). */
	void (*endpoint)(void *ctx, const char *peer);
	/* An enforcement event, borrowed for the call. */
	void (*emit)(void *ctx, json_t *event);
};

struct quota;

struct quota *quota_new(const struct quota_rule *rules, size_t n,
			const struct quota_hooks *hooks);
/* Lifts every block it set. Accepts NULL. */
void quota_free(struct quota *q);

/*
 * Puts rules in force instead of the configured ones (SIGHUP). A quota
 * with the same name, scope, metric and window keeps its history and
 * takes the new limit and action (a block it no longer allows is
 * lifted; one it now allows is set on keys already over); a quota no
 * longer named is dropped and its blocks lifted; quotas declared by
 * clients' headers stay. 0, or -ENOMEM with some new rules missing.
 */
int quota_reload(struct quota *q, const struct quota_rule *rules,
		 size_t n);

/* Counts one llm_call record at now_ns; may block at once. */
void quota_add(struct quota *q, const json_t *rec, uint64_t now_ns);
/* Releases what the window has freed; call every second or so. */
void quota_tick(struct quota *q, uint64_t now_ns);

/* "requests", "tokens", "cost"; "uid", "process", ...; "alert",
 * "block" to the enums: 0 or -EINVAL. */
int quota_metric_parse(const char *s, enum quota_metric *out);
int quota_scope_parse(const char *s, enum quota_scope *out);
int quota_action_parse(const char *s, enum quota_action *out);

/* Sets one field of a rule from its text form: name, scope, metric,
 * limit ("2", "$5"), window ("30s", "10m", "1d"), action. 0 or
 * -EINVAL. */
int quota_rule_set(struct quota_rule *r, const char *key,
		   const char *value);

/* Parses --quota's "name=N,scope=uid,metric=requests,limit=2,
 * window=10s,action=block" into a rule. -EINVAL, with the reason in
 * why, when it is not one. */
int quota_rule_parse_spec(const char *spec, struct quota_rule *out,
			  char *why, size_t why_len);

/* Parses a Helicone-RateLimit-Policy value into a rule; -EINVAL when
 * it is not one. */
int quota_policy_parse(const char *policy, struct quota_rule *out);

#endif /* LLMTAP_QUOTA_H */
