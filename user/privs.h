/* SPDX-License-Identifier: MIT */
/*
 * Dropping privileges once the capture runs. Root's uid stays (files
 * the daemon made are root's), but the capabilities shrink to what
 * attaching, the exec gate and /proc still need, in every thread and
 * in the bounding set, so neither the daemon nor a command it runs (an
 * exec notifier) can load a module, reconfigure the network, and so on.
 */
#ifndef LLMTAP_PRIVS_H
#define LLMTAP_PRIVS_H

#include <signal.h>

/* Asks each other thread to drop its own capabilities: capset(2) and
 * PR_CAPBSET_DROP change the calling thread only. A thread that
 * blocks signals must leave this one open (notify.c does). */
#define PRIVS_SIGNAL (SIGRTMIN + 1)
/* How long one thread may take to answer. */
#define PRIVS_WAIT_S 2
/* The threads it can follow; llmtap runs fewer than ten. */
#define PRIVS_MAX_THREADS 256

/* Keeps CAP_BPF, CAP_PERFMON, CAP_SYS_ADMIN, CAP_SYS_PTRACE,
 * CAP_DAC_READ_SEARCH, CAP_DAC_OVERRIDE and CAP_SYS_RESOURCE (those
 * the process has), drops every other one from the permitted,
 * effective, inheritable and (given CAP_SETPCAP) bounding sets of all
 * threads, CAP_SETPCAP last. Logs what is kept. 0 or a negative
 * errno; on an error some threads may keep more. */
int privs_drop(void);

#endif /* LLMTAP_PRIVS_H */
