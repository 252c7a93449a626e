/* SPDX-License-Identifier: MIT */
/* Naming the remote end of a process's socket from /proc. */
#ifndef LLMTAP_PEER_H
#define LLMTAP_PEER_H

#include <stddef.h>
#include <sys/types.h>

/* Writes "addr:port" ("[addr]:port" for IPv6) of the TCP peer of fd in
 * pid into out. Returns 0, or a negative errno when the fd is not a
 * TCP socket or is gone. */
int peer_of_fd(pid_t pid, int fd, char *out, size_t len);

#endif /* LLMTAP_PEER_H */
