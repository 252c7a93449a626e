/* SPDX-License-Identifier: MIT */
/*
 * Finding TLS libraries and attaching the uprobes to them: the system
 * libssl, every libssl a process maps, and executables that carry
 * OpenSSL statically and export its symbols (Node.js). A uprobe is
 * placed on a file's inode, so one attach covers every process that
 * runs that file, now or later. The functions are safe to call from
 * more than one thread.
 */
#ifndef LLMTAP_ATTACH_H
#define LLMTAP_ATTACH_H

#include <stdbool.h>
#include <sys/types.h>

#include <jansson.h>

struct tls_bpf;
struct attacher;

struct attacher *attacher_new(struct tls_bpf *skel);
void attacher_free(struct attacher *a);

/* The system libssl and every process running now, or only process
 * `only` when it is not 0. Returns the number of files attached, or a
 * negative errno. */
int attacher_scan_all(struct attacher *a, pid_t only);

/* A process that exec'd or mapped a TLS library: look at its
 * executable and its mapped libraries. Returns files newly attached. */
int attacher_scan_pid(struct attacher *a, pid_t pid);

/* One file; path may go through /proc/PID/root. 1 if newly attached,
 * 0 if already known or not a TLS library, negative errno on error. */
int attacher_add_file(struct attacher *a, const char *path);

int attacher_count(struct attacher *a);

/* The files with probes: [{"path", "stack", "probes"}]. */
json_t *attacher_targets(struct attacher *a);

#endif /* LLMTAP_ATTACH_H */
