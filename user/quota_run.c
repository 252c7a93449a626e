// SPDX-License-Identifier: MIT
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "block.h"
#include "config.h"
#include "log.h"
#include "quota_run.h"

struct quota_run {
	struct quota *quota;
	struct blocker *blocker;	/* NULL: blocks only alert */
	struct calls *calls;
	char *config_path;	/* NULL: the default file */
	struct quota_rule cli[QUOTA_RULES_MAX];	/* --quota, kept */
	size_t n_cli;
};

static int hook_block(void *ctx, const struct lt_blocked *who, bool on)
{
	struct quota_run *r = ctx;

	return r->blocker ? blocker_set(r->blocker, who, on) : -ENOTSUP;
}

static void hook_endpoint(void *ctx, const char *peer)
{
	struct quota_run *r = ctx;

	if (r->blocker)
		blocker_add_endpoint(r->blocker, peer);
}

static void hook_emit(void *ctx, json_t *ev)
{
	struct quota_run *r = ctx;

	calls_write_json(r->calls, ev);
}

/* The configuration file's quotas; a missing default file has none. */
static int config_quotas(const char *path, struct quota_rule *out,
			 size_t *n)
{
	struct config_diag diag = { 0 };
	struct config *cfg;

	if (!path && access(CONFIG_DEFAULT_PATH, F_OK))
		return 0;
	cfg = config_load(path ? path : CONFIG_DEFAULT_PATH, &diag);
	if (!cfg) {
		/* alert_run has logged every problem of this file. */
		config_diag_clear(&diag);
		return -EINVAL;
	}
	for (size_t i = 0; i < cfg->n_quotas && *n < QUOTA_RULES_MAX; i++)
		out[(*n)++] = cfg->quotas[i];
	config_free(cfg);
	return 0;
}

static bool any_block(const struct quota_rule *rules, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (rules[i].action == QUOTA_BLOCK)
			return true;
	}
	return false;
}

/* The --quota rules, then the file's: into rules, their count in *n.
 * -EINVAL when the file cannot be read. */
static int all_rules(const struct quota_run *r, struct quota_rule *rules,
		     size_t *n)
{
	*n = 0;
	for (size_t i = 0; i < r->n_cli && *n < QUOTA_RULES_MAX; i++)
		rules[(*n)++] = r->cli[i];
	return config_quotas(r->config_path, rules, n);
}

/* The kernel hook only when something may block. */
static void need_blocker(struct quota_run *r, const struct quota_rule *rules,
			 size_t n)
{
	if (!r->blocker && any_block(rules, n))
		r->blocker = blocker_open();
}

int quota_run_start(const char *config_path, const struct quota_rule *cli,
		    size_t n_cli, struct calls *calls,
		    struct quota_run **out)
{
	struct quota_rule rules[QUOTA_RULES_MAX];
	struct quota_run *r = calloc(1, sizeof(*r));
	struct quota_hooks hooks;
	size_t n = 0;

	*out = NULL;
	if (!r)
		return -1;
	r->n_cli = n_cli < QUOTA_RULES_MAX ? n_cli : QUOTA_RULES_MAX;
	if (r->n_cli)
		memcpy(r->cli, cli, r->n_cli * sizeof(*cli));
	r->config_path = config_path ? strdup(config_path) : NULL;
	r->calls = calls;
	if ((config_path && !r->config_path) || all_rules(r, rules, &n)) {
		quota_run_stop(r);
		return -1;
	}

	need_blocker(r, rules, n);
	hooks = (struct quota_hooks){ r, hook_block, hook_endpoint,
				      hook_emit };
	r->quota = quota_new(rules, n, &hooks);
	if (!r->quota) {
		quota_run_stop(r);
		return -1;
	}
	if (n)
		log_info("%zu quotas in force", n);
	*out = r;
	return 0;
}

void quota_run_reload(struct quota_run *r)
{
	struct quota_rule rules[QUOTA_RULES_MAX];
	size_t n = 0;

	if (!r)
		return;
	if (all_rules(r, rules, &n)) {
		log_err("quotas: the configuration was rejected; keeping the "
			"quotas in force");
		return;
	}
	need_blocker(r, rules, n);
	if (quota_reload(r->quota, rules, n))
		log_err("quotas: out of memory reloading; some quotas are "
			"missing");
	log_info("quotas reloaded: %zu in force", n);
}

void quota_run_stop(struct quota_run *r)
{
	if (!r)
		return;
	quota_free(r->quota);
	if (r->blocker && blocker_denied(r->blocker))
		log_info("quotas refused %llu connections",
			 (unsigned long long)blocker_denied(r->blocker));
	blocker_close(r->blocker);
	free(r->config_path);
	free(r);
}

void quota_run_add(struct quota_run *r, const json_t *rec)
{
	struct timespec ts;

	if (!r)
		return;
	clock_gettime(CLOCK_REALTIME, &ts);
	quota_add(r->quota, rec, (uint64_t)ts.tv_sec * 1000000000ull +
				 (uint64_t)ts.tv_nsec);
}

void quota_run_tick(struct quota_run *r, uint64_t now_ns)
{
	if (r)
		quota_tick(r->quota, now_ns);
}
