/* SPDX-License-Identifier: MIT */
/*
 * The kernel contract: every record that crosses the BPF ring buffer,
 * and the constants both sides size things by. Nothing else lives here.
 */
#ifndef LLMTAP_H
#define LLMTAP_H

#ifdef __BPF__
/* vmlinux.h already defines the __u types. */
#else
#include <linux/types.h>
#endif

/* Bytes of plaintext in one ring-buffer record. A TLS record holds at
 * most 16 KiB, so most calls fit in one chunk. The per-CPU scratch
 * buffer that stages a chunk must stay under the 32 KiB per-CPU limit. */
#define LT_CHUNK_MAX 16384

/* Upper bound on chunks per call; the runtime cap (cap_bytes) is at
 * most LT_CHUNK_MAX * LT_CHUNKS_MAX = 16 MiB. */
#define LT_CHUNKS_MAX 1024

/* Ports whose plain-HTTP traffic is captured (local model servers). */
#define LT_PLAIN_PORTS_MAX 64

#define LT_COMM_LEN 16
#define LT_HOST_LEN 256
#define LT_PATH_LEN 256

enum lt_event_kind {
	LT_EV_DATA = 1,	/* a chunk of TLS plaintext */
	LT_EV_CONN = 2,	/* connection metadata: SNI, fd, close */
	LT_EV_PROC = 3,	/* process exec or exit */
	LT_EV_LIBMAP = 4,	/* a process loaded a library: look at its maps */
};

enum lt_dir {
	LT_DIR_WRITE = 0,
	LT_DIR_READ = 1,
};

enum lt_data_flags {
	LT_F_TRUNCATED = 1 << 0,	/* the call was longer than cap_bytes */
	LT_F_READ_FAILED = 1 << 1,	/* bpf_probe_read_user failed */
};

enum lt_conn_op {
	LT_CONN_SNI = 1,
	LT_CONN_FD = 2,
	LT_CONN_CLOSE = 3,
};

enum lt_proc_op {
	LT_PROC_EXEC = 1,
	LT_PROC_EXIT = 2,
};

/* Loss counters, one slot each in the per-CPU "stats" array. */
enum lt_stat {
	LT_STAT_RB_DROPS = 0,	/* ring-buffer records that did not fit */
	LT_STAT_RB_DROP_BYTES,	/* plaintext bytes in those records */
	LT_STAT_TRUNC_CALLS,	/* calls cut at cap_bytes */
	LT_STAT_TRUNC_BYTES,	/* bytes cut off those calls */
	LT_STAT_READ_FAILS,	/* user memory that could not be read */
	LT_STAT_NESTED,	/* SSL calls nested in another on a thread */
	LT_STAT_MAX,
};

/* Common first field: tells the reader which struct follows. */
struct lt_hdr {
	__u32 kind;
	__u32 pid;	/* tgid */
	__u32 tid;
	__u32 uid;
	__u64 ts_ns;	/* bpf_ktime_get_boot_ns(); user space adds the
			 * boot-to-wall-clock offset */
	char comm[LT_COMM_LEN];
};

struct lt_data {
	struct lt_hdr hdr;
	__u64 ssl;	/* the SSL pointer: with pid, the connection id */
	__u64 call_len;	/* bytes the call moved, before any cut */
	__u64 offset;	/* this chunk's offset in the call */
	__u32 dir;
	__u32 flags;
	__u32 chunk_len;	/* bytes of data[] that are valid */
	__u32 pad;
	__u8 data[LT_CHUNK_MAX];
};

struct lt_conn {
	struct lt_hdr hdr;
	__u64 ssl;
	__u32 op;
	__s32 fd;	/* LT_CONN_FD */
	/* LT_CONN_FD: the socket's remote end, read in the kernel while
	 * the socket surely exists; family 0 when it is not a socket. */
	__u16 family;
	__u16 port;	/* host byte order */
	__u32 pad;
	__u8 addr[16];	/* network byte order; IPv4 in the first 4 */
	char host[LT_HOST_LEN];	/* LT_CONN_SNI */
};

struct lt_proc {
	struct lt_hdr hdr;
	__u32 op;
	__u32 ppid;
	__s32 exit_code;
	__u32 pad;
	char filename[LT_PATH_LEN];	/* LT_PROC_EXEC */
};

struct lt_libmap {
	struct lt_hdr hdr;
};

/* ---- quotas: connection blocking (bpf/quota.bpf.c) ---- */

#define LT_QUOTA_ENDPOINTS_MAX 4096
#define LT_QUOTA_BLOCKED_MAX 4096

/* An LLM endpoint new connections to which can be refused. */
struct lt_endpoint {
	__u16 family;	/* AF_INET or AF_INET6 */
	__u16 port;	/* host byte order */
	__u8 addr[16];	/* network byte order; IPv4 in the first 4 */
};

enum lt_block_scope {
	LT_BLOCK_UID = 1,
	LT_BLOCK_COMM = 2,
	LT_BLOCK_CGROUP = 3,
};

/* Who is over budget: a uid, a command name or a cgroup v2 id. */
struct lt_blocked {
	__u32 scope;
	__u32 uid;
	__u64 cgroup;
	char comm[LT_COMM_LEN];
};

#define LT_DATA_HDR_LEN ((unsigned long)&((struct lt_data *)0)->data)

_Static_assert(sizeof(struct lt_hdr) == 40, "lt_hdr layout");
_Static_assert(sizeof(struct lt_data) == 40 + 40 + LT_CHUNK_MAX,
	       "lt_data layout");
_Static_assert(sizeof(struct lt_conn) == 40 + 16 + 24 + LT_HOST_LEN,
	       "lt_conn layout");
_Static_assert(sizeof(struct lt_proc) == 40 + 16 + LT_PATH_LEN,
	       "lt_proc layout");
_Static_assert(sizeof(struct lt_libmap) == 40,
	       "lt_libmap layout");

_Static_assert(sizeof(struct lt_endpoint) == 20, "lt_endpoint layout");
_Static_assert(sizeof(struct lt_blocked) == 32, "lt_blocked layout");

#endif /* LLMTAP_H */
