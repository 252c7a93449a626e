/* SPDX-License-Identifier: MIT */
/*
 * Capture events as user space sees them, whether they came from the
 * ring buffer (run, record) or from a recording (replay). Every stage
 * after capture consumes these and nothing else, so a recording drives
 * exactly the code that live capture drives.
 */
#ifndef LLMTAP_EVENT_H
#define LLMTAP_EVENT_H

#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>

#define EV_COMM_LEN 16
#define EV_HOST_LEN 256
#define EV_PATH_LEN 4096

enum ev_dir {
	EV_DIR_WRITE = 0,	/* the process sent: a request */
	EV_DIR_READ = 1,	/* the process received: a response */
};

/* Who made a call. */
struct ev_task {
	uint64_t ts_ns;	/* wall clock, ns since the epoch */
	uint32_t pid;
	uint32_t tid;
	uint32_t uid;
	char comm[EV_COMM_LEN];
};

/* A connection is a (pid, SSL pointer) pair; the pointer may be
 * reused after SSL_free, which is why close events matter. */
struct ev_conn_id {
	uint32_t pid;
	uint64_t ssl;
};

/* One chunk of plaintext from one SSL_read/SSL_write call. */
struct ev_data {
	struct ev_task task;
	struct ev_conn_id conn;
	enum ev_dir dir;
	uint64_t call_len;	/* bytes the call moved */
	uint64_t offset;	/* where this chunk starts in the call */
	bool truncated;	/* the call was cut: call_len > what arrives */
	const uint8_t *data;
	size_t len;
};

enum ev_conn_op {
	EV_CONN_SNI = 1,
	EV_CONN_FD = 2,
	EV_CONN_CLOSE = 3,
};

struct ev_conn {
	struct ev_task task;
	struct ev_conn_id conn;
	enum ev_conn_op op;
	int fd;	/* EV_CONN_FD */
	char host[EV_HOST_LEN];	/* EV_CONN_SNI */
	char peer[64];	/* EV_CONN_FD: "addr:port" when known, else "" */
};

enum ev_proc_op {
	EV_PROC_EXEC = 1,
	EV_PROC_EXIT = 2,
};

struct ev_proc {
	struct ev_task task;
	enum ev_proc_op op;
	uint32_t ppid;
	int exit_code;
	char exe[EV_PATH_LEN];	/* EV_PROC_EXEC */
};

/* Losses, as deltas since the previous loss event. */
struct ev_loss {
	uint64_t ts_ns;
	uint64_t rb_drops;	/* records the ring buffer had no room for */
	uint64_t rb_drop_bytes;
	uint64_t trunc_calls;	/* calls cut at the per-call cap */
	uint64_t trunc_bytes;
	uint64_t read_fails;	/* user memory BPF could not read */
};

/* A consumer of capture events. Any callback may be NULL. */
struct ev_sink {
	void *ctx;
	void (*on_data)(void *ctx, const struct ev_data *ev);
	void (*on_conn)(void *ctx, const struct ev_conn *ev);
	void (*on_proc)(void *ctx, const struct ev_proc *ev);
	void (*on_loss)(void *ctx, const struct ev_loss *ev);
};

#endif /* LLMTAP_EVENT_H */
