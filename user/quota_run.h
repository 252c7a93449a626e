/* SPDX-License-Identifier: MIT */
/*
 * Quotas in the daemon: the rules from --quota and the configuration
 * file's quotas: list, the kernel blocker they use, and their
 * enforcement lines in the calls output.
 */
#ifndef LLMTAP_QUOTA_RUN_H
#define LLMTAP_QUOTA_RUN_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "calls.h"
#include "quota.h"

struct quota_run;

/* config_path NULL: the default file, if there is one. 0 with *out
 * set, or -1 after logging why. */
int quota_run_start(const char *config_path, const struct quota_rule *cli,
		    size_t n_cli, struct calls *calls,
		    struct quota_run **out);
void quota_run_stop(struct quota_run *r);	/* lifts every block */

/* SIGHUP: reads the configuration file again and puts its quotas
 * and the --quota ones in force (see quota_reload); a file with errors
 * changes nothing. */
void quota_run_reload(struct quota_run *r);

void quota_run_add(struct quota_run *r, const json_t *rec);
void quota_run_tick(struct quota_run *r, uint64_t now_ns);

#endif /* LLMTAP_QUOTA_RUN_H */
