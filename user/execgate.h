/* SPDX-License-Identifier: MIT */
/*
 * Holding each exec until its binary is attached. Without it, a new
 * binary that carries its own TLS (Go, Node.js) races llmtap: the
 * process may talk before its uprobes exist. fanotify's exec
 * permission events make the kernel wait for our answer, which we give
 * right after attaching, and give at once for files seen before.
 */
#ifndef LLMTAP_EXECGATE_H
#define LLMTAP_EXECGATE_H

#include <stdint.h>

struct attacher;
struct execgate;

/* NULL, after one warning, where fanotify permission events are not
 * available: exec is then only noticed afterwards. */
struct execgate *execgate_start(struct attacher *a);

/* Stops the thread; execs in flight are allowed by the kernel when the
 * fanotify descriptor closes. Accepts NULL. */
void execgate_stop(struct execgate *g);

struct execgate_stats {
	uint64_t execs;	/* exec events answered */
	uint64_t attached;	/* binaries attached before they ran */
};

void execgate_get_stats(const struct execgate *g, struct execgate_stats *s);

#endif /* LLMTAP_EXECGATE_H */
