// SPDX-License-Identifier: MIT
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "alert_run.h"
#include "alerts.h"
#include "config.h"
#include "log.h"
#include "notify.h"

#define AR_NS_PER_S 1000000000ull

struct alert_run {
	const char *path;
	bool required;	/* given with --config: must exist */
	struct calls *calls;
	struct notify *notify;
	struct alerts *alerts;
};

/* The alert line, in the calls output with the calls around it. */
static void ar_emit(void *ctx, const json_t *alert)
{
	struct alert_run *r = ctx;

	calls_write_json(r->calls, alert);
	log_info("alert: %s %s", json_string_value(json_object_get(
			 alert, "rule")),
		 json_string_value(json_object_get(alert, "state")));
}

/* The configuration, an empty one when the default file is missing,
 * or NULL after logging every problem. */
static struct config *ar_load(const struct alert_run *r)
{
	struct config_diag d = { 0 };
	struct config *c;

	if (!r->required && access(r->path, F_OK) && errno == ENOENT)
		return config_parse("", 0, r->path, NULL);
	c = config_load(r->path, &d);
	config_diag_log(&d);
	config_diag_clear(&d);
	return c;
}

static void ar_log_loaded(const struct config *c)
{
	if (!c->n_alerts && !c->n_notifiers) {
		log_debug("alerts: none configured in %s", c->path);
		return;
	}
	log_info("alerts: %zu rules, %zu notifiers from %s, evaluated "
		 "every %us", c->n_alerts, c->n_notifiers, c->path,
		 c->evaluate_every_s);
}

int alert_run_start(const char *path, struct calls *calls, bool deliver,
		    struct alert_run **out)
{
	struct alert_run *r = calloc(1, sizeof(*r));
	struct alerts_opts o = { .emit = ar_emit };
	struct config *c;

	*out = NULL;
	if (!r)
		return -1;
	r->path = path ? path : CONFIG_DEFAULT_PATH;
	r->required = path != NULL;
	r->calls = calls;
	c = ar_load(r);
	r->notify = c && deliver ? notify_new() : NULL;
	if (!c || (deliver && !r->notify)) {
		config_free(c);
		free(r);
		return -1;
	}
	ar_log_loaded(c);
	o.emit_ctx = r;
	o.notify = r->notify;
	r->alerts = alerts_new(c, &o);
	if (!r->alerts) {
		log_err("alerts: out of memory");
		alert_run_stop(r);
		return -1;
	}
	*out = r;
	return 0;
}

void alert_run_stop(struct alert_run *r)
{
	struct alerts_stats st;

	if (!r)
		return;
	alerts_stats(r->alerts, &st);
	if (st.fired)
		log_info("alerts: %" PRIu64 " fired, %" PRIu64 " resolved",
			 st.fired, st.resolved);
	alerts_free(r->alerts);
	notify_free(r->notify);
	free(r);
}

void alert_run_add_at(struct alert_run *r, const json_t *rec,
		      uint64_t now_ns)
{
	if (r)
		alerts_add(r->alerts, rec, now_ns);
}

void alert_run_add(struct alert_run *r, const json_t *rec)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	alert_run_add_at(r, rec, (uint64_t)ts.tv_sec * AR_NS_PER_S +
					 (uint64_t)ts.tv_nsec);
}

void alert_run_evaluate(struct alert_run *r, uint64_t now_ns)
{
	if (r)
		alerts_evaluate(r->alerts, now_ns);
}

/* A broken file never replaces a working configuration. */
static void ar_reload(struct alert_run *r)
{
	struct config *c;

	log_info("alerts: reloading %s", r->path);
	c = ar_load(r);
	if (!c) {
		log_err("alerts: %s rejected; keeping the running "
			"configuration", r->path);
		return;
	}
	ar_log_loaded(c);
	if (alerts_reload(r->alerts, c))
		log_err("alerts: out of memory reloading; keeping the "
			"running configuration");
}

void alert_run_tick(struct alert_run *r, uint64_t now_ns, bool reload)
{
	if (!r)
		return;
	if (reload)
		ar_reload(r);
	alerts_tick(r->alerts, now_ns);
}
