/* SPDX-License-Identifier: MIT */
/*
 * Alerts in the daemon: the configuration file, the rules (alerts.h)
 * fed with every record, the delivery thread (notify.h), and reloads
 * on SIGHUP. Alert objects are written as lines of the calls output.
 */
#ifndef LLMTAP_ALERT_RUN_H
#define LLMTAP_ALERT_RUN_H

#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>

#include "calls.h"

struct alert_run;

/* path NULL: CONFIG_DEFAULT_PATH, which may be missing (no rules);
 * a path given must load. deliver false: alert lines are written but
 * no notifier is called (a replay shows what would have fired, it
 * does not page anyone about the past). 0 with *out set, or -1 after
 * logging every problem of the file. */
int alert_run_start(const char *path, struct calls *calls, bool deliver,
		    struct alert_run **out);
/* Flushes nothing: messages still queued are logged as lost. */
void alert_run_stop(struct alert_run *r);	/* accepts NULL */

/* Each record, as it is written: at the wall clock's time, or at
 * now_ns (a replay goes by the recording's clock). */
void alert_run_add(struct alert_run *r, const json_t *rec);
void alert_run_add_at(struct alert_run *r, const json_t *rec,
		      uint64_t now_ns);
/* Evaluates every rule at now_ns, due or not (the end of a replay). */
void alert_run_evaluate(struct alert_run *r, uint64_t now_ns);
/* From the housekeeping tick: evaluates when due; with reload, first
 * reads the file again (a broken one is logged and ignored). */
void alert_run_tick(struct alert_run *r, uint64_t now_ns, bool reload);

#endif /* LLMTAP_ALERT_RUN_H */
