/* SPDX-License-Identifier: MIT */
/*
 * Refusing new connections to LLM endpoints from a process, user or
 * cgroup that is over its quota (bpf/quota.bpf.c, a cgroup connect
 * hook on the root of the cgroup v2 tree).
 */
#ifndef LLMTAP_BLOCK_H
#define LLMTAP_BLOCK_H

#include <stdbool.h>
#include <stdint.h>

#include "llmtap.h"

struct blocker;

/* NULL, after one warning saying why, where the hook cannot be loaded
 * or attached: quotas then only alert. */
struct blocker *blocker_open(void);
void blocker_close(struct blocker *b);	/* accepts NULL */

/* An endpoint, "addr:port" or "[addr]:port", as a record's peer. 0, or
 * -EINVAL for anything else. */
int blocker_add_endpoint(struct blocker *b, const char *peer);

/* Starts or stops refusing connections from who. */
int blocker_set(struct blocker *b, const struct lt_blocked *who, bool on);

/* The cgroup v2 id of a process (its directory's inode), 0 if gone. */
uint64_t blocker_cgroup_of(int pid);

/* Connections refused so far. */
uint64_t blocker_denied(struct blocker *b);

#endif /* LLMTAP_BLOCK_H */
