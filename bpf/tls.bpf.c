// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * TLS plaintext capture: uprobes on OpenSSL's SSL_read/SSL_write
 * family copy what the application handed to or got from the library
 * into the ring buffer, with connection and process metadata.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_endian.h>

#include "llmtap.h"

char LICENSE[] SEC("license") = "Dual MIT/GPL";

/* Settings, filled in by user space before load. */
const volatile __u32 filter_pid = 0;
const volatile __u32 self_pid = 0;	/* llmtap itself is never traced */
const volatile __u32 filter_uid = (__u32)-1;
const volatile char filter_comm[LT_COMM_LEN] = {};
const volatile __u64 cap_bytes = 4 << 20;
/* Wake the reader only past this fill level; below it the reader
 * polls on a short timer. A wakeup per record costs ~12 us a call. */
const volatile __u64 wake_bytes = 1 << 20;

/* OpenSSL: SSL_CTRL_SET_TLSEXT_HOSTNAME, TLSEXT_NAMETYPE_host_name. */
#define SSL_CTRL_SET_TLSEXT_HOSTNAME 55
#define TLSEXT_NAMETYPE_HOST_NAME 0

/* x86_64 syscall numbers whose fd argument names the socket. */
#define NR_READ 0
#define NR_WRITE 1
#define NR_READV 19
#define NR_WRITEV 20
#define NR_SENDTO 44
#define NR_RECVFROM 45
#define NR_SENDMSG 46
#define NR_RECVMSG 47
#define NR_CLOSE 3
#define NR_CONNECT 42

#define AF_INET 2
#define AF_INET6 10

enum call_kind {
	CALL_PLAIN = 0,	/* SSL_read/SSL_write: the return value is the count */
	CALL_EX = 1,	/* *_ex: returns 1, the count is in *out_len */
	/* writev/readv/sendmsg/recvmsg on a plain socket: buf is the
	 * iovec array, out_len its count. */
	CALL_PLAIN_IOV = 2,
};

/* Arguments saved at entry, used at return. */
struct call_args {
	__u64 ssl;
	__u64 buf;
	__u64 out_len;	/* size_t * for the _ex forms */
	__u32 kind;
	__u32 dir;
};

struct conn_key {
	__u32 pid;
	__u32 pad;
	__u64 ssl;
};

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 32 << 20);	/* resized by user space */
} rb SEC(".maps");

/* Stages one chunk; too big for the 512-byte BPF stack. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct lt_data);
} scratch SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, LT_STAT_MAX);
	__type(key, __u32);
	__type(value, __u64);
} stats SEC(".maps");

/* In-flight SSL calls, by thread. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384);
	__type(key, __u64);
	__type(value, struct call_args);
} active SEC(".maps");

/* The fd last reported for a connection, to report it once. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 65536);
	__type(key, struct conn_key);
	__type(value, __s32);
} conn_fd SEC(".maps");

static __always_inline void stat_add(__u32 idx, __u64 n)
{
	__u64 *v = bpf_map_lookup_elem(&stats, &idx);

	if (v)
		*v += n;
}

static __always_inline bool comm_matches(const char *comm)
{
	if (!filter_comm[0])
		return true;
	for (int i = 0; i < LT_COMM_LEN; i++) {
		if (comm[i] != filter_comm[i])
			return false;
		if (!comm[i])
			return true;
	}
	return true;
}

static __always_inline bool task_wanted(void)
{
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	__u32 uid = (__u32)bpf_get_current_uid_gid();

	if (filter_pid && (__u32)(pid_tgid >> 32) != filter_pid)
		return false;
	if ((__u32)(pid_tgid >> 32) == self_pid)
		return false;
	if (filter_uid != (__u32)-1 && uid != filter_uid)
		return false;
	if (filter_comm[0]) {
		char comm[LT_COMM_LEN];

		bpf_get_current_comm(comm, sizeof(comm));
		return comm_matches(comm);
	}
	return true;
}

static __always_inline void fill_hdr(struct lt_hdr *h, __u32 kind)
{
	__u64 pid_tgid = bpf_get_current_pid_tgid();

	h->kind = kind;
	h->pid = pid_tgid >> 32;
	h->tid = (__u32)pid_tgid;
	h->uid = (__u32)bpf_get_current_uid_gid();
	h->ts_ns = bpf_ktime_get_boot_ns();
	bpf_get_current_comm(h->comm, sizeof(h->comm));
}

static __always_inline __u64 wake_flag(void)
{
	__u64 used = bpf_ringbuf_query(&rb, BPF_RB_AVAIL_DATA);

	return used >= wake_bytes ? BPF_RB_FORCE_WAKEUP : BPF_RB_NO_WAKEUP;
}

/* Small records go through the ring buffer directly. */
static __always_inline void output_small(void *rec, __u64 size)
{
	if (bpf_ringbuf_output(&rb, rec, size, wake_flag()))
		stat_add(LT_STAT_RB_DROPS, 1);
}

/* Records user space must act on at once (attach to a new binary
 * before it starts talking) wake the reader. */
static __always_inline void output_urgent(void *rec, __u64 size)
{
	if (bpf_ringbuf_output(&rb, rec, size, BPF_RB_FORCE_WAKEUP))
		stat_add(LT_STAT_RB_DROPS, 1);
}

/* ---- data ---- */

struct emit_ctx {
	__u64 buf;
	__u64 copy_len;
};

static long emit_chunk(__u32 i, void *arg)
{
	struct emit_ctx *ec = arg;
	__u32 zero = 0;
	struct lt_data *d;
	__u64 off = (__u64)i * LT_CHUNK_MAX;
	__u64 n;

	if (off >= ec->copy_len)
		return 1;
	d = bpf_map_lookup_elem(&scratch, &zero);
	if (!d)
		return 1;

	n = ec->copy_len - off;
	if (n > LT_CHUNK_MAX)
		n = LT_CHUNK_MAX;
	/* Keep the verifier's bound on n through the copy below. */
	asm volatile("%[n] &= %[mask]" : [n] "+r"(n)
		     : [mask] "i"(2 * LT_CHUNK_MAX - 1));
	if (n > LT_CHUNK_MAX)
		return 1;

	d->offset = off;
	d->chunk_len = n;
	if (bpf_probe_read_user(d->data, n, (void *)(ec->buf + off))) {
		d->flags |= LT_F_READ_FAILED;
		stat_add(LT_STAT_READ_FAILS, 1);
	}
	if (bpf_ringbuf_output(&rb, d, LT_DATA_HDR_LEN + n, wake_flag())) {
		stat_add(LT_STAT_RB_DROPS, 1);
		stat_add(LT_STAT_RB_DROP_BYTES, n);
	}
	d->flags &= ~LT_F_READ_FAILED;
	return 0;
}

static __always_inline void emit_data(struct call_args *a, __u64 len)
{
	struct emit_ctx ec = { .buf = a->buf, .copy_len = len };
	__u32 zero = 0;
	struct lt_data *d;

	if (!len)
		return;
	d = bpf_map_lookup_elem(&scratch, &zero);
	if (!d)
		return;

	fill_hdr(&d->hdr, LT_EV_DATA);
	d->ssl = a->ssl;
	d->call_len = len;
	d->dir = a->dir;
	d->flags = 0;
	if (len > cap_bytes) {
		ec.copy_len = cap_bytes;
		d->flags = LT_F_TRUNCATED;
		stat_add(LT_STAT_TRUNC_CALLS, 1);
		stat_add(LT_STAT_TRUNC_BYTES, len - cap_bytes);
	}

	bpf_loop(LT_CHUNKS_MAX, emit_chunk, &ec, 0);
}

/* ---- SSL call entry and return ---- */

static __always_inline int call_enter(void *ssl, const void *buf,
				      void *out_len, __u32 kind, __u32 dir)
{
	__u64 tid = bpf_get_current_pid_tgid();
	struct call_args a = {
		.ssl = (__u64)ssl,
		.buf = (__u64)buf,
		.out_len = (__u64)out_len,
		.kind = kind,
		.dir = dir,
	};

	if (!task_wanted())
		return 0;
	if (bpf_map_lookup_elem(&active, &tid))
		stat_add(LT_STAT_NESTED, 1);
	bpf_map_update_elem(&active, &tid, &a, BPF_ANY);
	return 0;
}

/* The count the call really moved, or 0 when it failed. All four
 * return int: the upper half of the register is not theirs. */
static __always_inline __u64 call_count(struct call_args *a, int ret)
{
	size_t n = 0;

	if (a->kind == CALL_PLAIN)
		return ret > 0 ? ret : 0;
	/* SSL_*_ex return 1; the internal functions they share return
	 * any positive number on success. */
	if (ret <= 0 || !a->out_len)
		return 0;
	if (bpf_probe_read_user(&n, sizeof(n), (void *)a->out_len))
		return 0;
	return n;
}

static __always_inline int call_return(int ret)
{
	__u64 tid = bpf_get_current_pid_tgid();
	struct call_args *a = bpf_map_lookup_elem(&active, &tid);

	if (!a)
		return 0;
	emit_data(a, call_count(a, ret));
	bpf_map_delete_elem(&active, &tid);
	return 0;
}

SEC("uprobe")
int BPF_KPROBE(ssl_write_enter, void *ssl, const void *buf, int num)
{
	return call_enter(ssl, buf, NULL, CALL_PLAIN, LT_DIR_WRITE);
}

SEC("uprobe")
int BPF_KPROBE(ssl_write_ex_enter, void *ssl, const void *buf, size_t num,
	       size_t *written)
{
	return call_enter(ssl, buf, written, CALL_EX, LT_DIR_WRITE);
}

SEC("uprobe")
int BPF_KPROBE(ssl_read_enter, void *ssl, void *buf, int num)
{
	return call_enter(ssl, buf, NULL, CALL_PLAIN, LT_DIR_READ);
}

SEC("uprobe")
int BPF_KPROBE(ssl_read_ex_enter, void *ssl, void *buf, size_t num,
	       size_t *readbytes)
{
	return call_enter(ssl, buf, readbytes, CALL_EX, LT_DIR_READ);
}

/* One return probe serves all four: the saved kind says how to count. */
SEC("uretprobe")
int BPF_KRETPROBE(ssl_call_return, long ret)
{
	return call_return((int)ret);
}

static __always_inline void conn_fill(struct lt_conn *c, __u64 ssl,
				      __u32 op)
{
	fill_hdr(&c->hdr, LT_EV_CONN);
	c->ssl = ssl;
	c->op = op;
	c->fd = -1;
}

/* ---- Go crypto/tls ---- */

/*
 * Go 1.17+ passes arguments and results in registers (the internal
 * register ABI): the receiver in RAX, a slice as RBX (pointer), RCX
 * (length), RDI (capacity); the int result in RAX. R14 holds the
 * running goroutine. A goroutine moves between threads, so calls are
 * keyed by goroutine, and Go's stacks move, so there are no
 * uretprobes: user space puts go_read_ret on each RET of Read.
 */
struct go_key {
	__u32 pid;
	__u32 pad;
	__u64 g;
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384);
	__type(key, struct go_key);
	__type(value, struct call_args);
} go_active SEC(".maps");

static __always_inline struct go_key go_key_now(struct pt_regs *ctx)
{
	struct go_key k = { .pid = bpf_get_current_pid_tgid() >> 32,
			    .g = ctx->r14 };

	return k;
}

/* Write returns only when all of b is written or the conn failed. */
SEC("uprobe")
int go_write_enter(struct pt_regs *ctx)
{
	struct call_args a = { .ssl = ctx->ax, .buf = ctx->bx,
			       .dir = LT_DIR_WRITE };

	if (task_wanted())
		emit_data(&a, ctx->cx);
	return 0;
}

SEC("uprobe")
int go_read_enter(struct pt_regs *ctx)
{
	struct go_key k = go_key_now(ctx);
	struct call_args a = { .ssl = ctx->ax, .buf = ctx->bx,
			       .dir = LT_DIR_READ };

	if (task_wanted())
		bpf_map_update_elem(&go_active, &k, &a, BPF_ANY);
	return 0;
}

SEC("uprobe")
int go_read_ret(struct pt_regs *ctx)
{
	struct go_key k = go_key_now(ctx);
	struct call_args *a = bpf_map_lookup_elem(&go_active, &k);
	long n = (long)ctx->ax;

	if (!a)
		return 0;
	if (n > 0)
		emit_data(a, n);
	bpf_map_delete_elem(&go_active, &k);
	return 0;
}

/* ---- GnuTLS ---- */

/* gnutls_server_name_set(session, GNUTLS_NAME_DNS, name, len). */
#define GNUTLS_NAME_DNS 1

SEC("uprobe")
int BPF_KPROBE(gnutls_sni_enter, void *session, int type, const char *name,
	       size_t len)
{
	struct lt_conn c = {};

	if (type != GNUTLS_NAME_DNS || !name || !task_wanted())
		return 0;
	conn_fill(&c, (__u64)session, LT_CONN_SNI);
	if (len > sizeof(c.host) - 1)
		len = sizeof(c.host) - 1;
	bpf_probe_read_user(c.host, len & (LT_HOST_LEN - 1), name);
	output_small(&c, sizeof(c));
	return 0;
}

/* ---- connection metadata ---- */


SEC("uprobe")
int BPF_KPROBE(ssl_ctrl_enter, void *ssl, int cmd, long larg, void *parg)
{
	struct lt_conn c = {};

	if (cmd != SSL_CTRL_SET_TLSEXT_HOSTNAME ||
	    larg != TLSEXT_NAMETYPE_HOST_NAME || !parg || !task_wanted())
		return 0;
	conn_fill(&c, (__u64)ssl, LT_CONN_SNI);
	bpf_probe_read_user_str(c.host, sizeof(c.host), parg);
	output_small(&c, sizeof(c));
	return 0;
}

#define S_IFMT 00170000
#define S_IFSOCK 0140000

/* The remote end of fd in the current process, if it is a socket. */
static __always_inline void fill_peer(struct lt_conn *c, __s32 fd)
{
	struct task_struct *t = (struct task_struct *)bpf_get_current_task();
	struct fdtable *fdt = BPF_CORE_READ(t, files, fdt);
	struct file **fds = BPF_CORE_READ(fdt, fd);
	struct file *f = NULL;
	struct socket *sock;
	struct sock *sk;

	if (fd < 0 || (__u32)fd >= BPF_CORE_READ(fdt, max_fds))
		return;
	bpf_probe_read_kernel(&f, sizeof(f), &fds[fd]);
	if (!f || (BPF_CORE_READ(f, f_inode, i_mode) & S_IFMT) != S_IFSOCK)
		return;
	sock = BPF_CORE_READ(f, private_data);
	sk = BPF_CORE_READ(sock, sk);
	if (!sk)
		return;
	c->family = BPF_CORE_READ(sk, __sk_common.skc_family);
	c->port = bpf_ntohs(BPF_CORE_READ(sk, __sk_common.skc_dport));
	if (c->family == AF_INET)
		bpf_core_read(c->addr, 4, &sk->__sk_common.skc_daddr);
	else if (c->family == AF_INET6)
		bpf_core_read(c->addr, 16, &sk->__sk_common.skc_v6_daddr);
	else
		c->family = 0;
}

static __always_inline void report_fd(__u64 ssl, __s32 fd)
{
	struct conn_key key = { .pid = bpf_get_current_pid_tgid() >> 32,
				.ssl = ssl };
	__s32 *seen = bpf_map_lookup_elem(&conn_fd, &key);
	struct lt_conn c = {};

	if (seen && *seen == fd)
		return;
	bpf_map_update_elem(&conn_fd, &key, &fd, BPF_ANY);
	conn_fill(&c, ssl, LT_CONN_FD);
	c.fd = fd;
	fill_peer(&c, fd);
	output_small(&c, sizeof(c));
}

SEC("uprobe")
int BPF_KPROBE(ssl_set_fd_enter, void *ssl, int fd)
{
	if (task_wanted())
		report_fd((__u64)ssl, fd);
	return 0;
}

SEC("uprobe")
int BPF_KPROBE(ssl_free_enter, void *ssl)
{
	struct conn_key key = { .pid = bpf_get_current_pid_tgid() >> 32,
				.ssl = (__u64)ssl };
	struct lt_conn c = {};

	if (!ssl || !task_wanted())
		return 0;
	bpf_map_delete_elem(&conn_fd, &key);
	conn_fill(&c, (__u64)ssl, LT_CONN_CLOSE);
	output_small(&c, sizeof(c));
	return 0;
}

static __always_inline bool is_socket_io(long id)
{
	switch (id) {
	case NR_READ: case NR_WRITE: case NR_READV: case NR_WRITEV:
	case NR_SENDTO: case NR_RECVFROM: case NR_SENDMSG: case NR_RECVMSG:
		return true;
	}
	return false;
}

/*
 * Libraries that give OpenSSL a custom BIO (curl does) never call
 * SSL_set_fd; the socket shows up as the fd of the read or write the
 * SSL call makes on the same thread.
 */
static __always_inline void tls_socket_io(struct pt_regs *regs)
{
	__u64 tid = bpf_get_current_pid_tgid();
	struct call_args *a = bpf_map_lookup_elem(&active, &tid);

	if (a)
		report_fd(a->ssl, (__s32)BPF_CORE_READ(regs, di));
}

/* ---- plain HTTP to local model servers ---- */

/*
 * Local model servers (Ollama, vLLM, llama.cpp) speak plain HTTP, so
 * there is no TLS library to probe. A socket connected to one of the
 * configured ports is followed through its read/write system calls
 * instead. Its connection id is the fd with the top bit set, which no
 * SSL pointer has.
 */
#define PLAIN_CONN_TAG (1ull << 63)

struct fd_key {
	__u32 pid;
	__s32 fd;
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, LT_PLAIN_PORTS_MAX);
	__type(key, __u16);
	__type(value, __u8);
} plain_ports SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384);
	__type(key, struct fd_key);
	__type(value, __u8);
} plain_fds SEC(".maps");

/* Plain socket calls in flight, by thread. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384);
	__type(key, __u64);
	__type(value, struct call_args);
} plain_active SEC(".maps");

static __always_inline struct fd_key fd_key_of(__s32 fd)
{
	struct fd_key k = { .pid = bpf_get_current_pid_tgid() >> 32,
			    .fd = fd };

	return k;
}

static __always_inline void plain_connect(struct pt_regs *regs)
{
	struct fd_key k = fd_key_of(BPF_CORE_READ(regs, di));
	void *addr = (void *)BPF_CORE_READ(regs, si);
	__u16 family = 0, port_be = 0, port;
	__u8 one = 1;

	if (bpf_probe_read_user(&family, sizeof(family), addr) ||
	    (family != AF_INET && family != AF_INET6))
		return;
	/* sin_port and sin6_port both sit right after the family. */
	if (bpf_probe_read_user(&port_be, sizeof(port_be), addr + 2))
		return;
	port = bpf_ntohs(port_be);
	if (bpf_map_lookup_elem(&plain_ports, &port) && task_wanted())
		bpf_map_update_elem(&plain_fds, &k, &one, BPF_ANY);
}

static __always_inline void plain_close(struct pt_regs *regs)
{
	__s32 fd = BPF_CORE_READ(regs, di);
	struct fd_key k = fd_key_of(fd);
	struct lt_conn c = {};

	if (!bpf_map_lookup_elem(&plain_fds, &k))
		return;
	bpf_map_delete_elem(&plain_fds, &k);
	conn_fill(&c, PLAIN_CONN_TAG | (__u32)fd, LT_CONN_CLOSE);
	output_small(&c, sizeof(c));
}

/* Vectored calls (writev, readv, sendmsg, recvmsg) are followed for
 * this many buffers; node's fetch writes a request as two. Bytes past
 * them are counted as truncated. */
#define PLAIN_IOV_MAX 8
#define IOVEC_SIZE 16	/* struct iovec: base, len */
#define MSGHDR_IOV_OFF 16	/* struct user_msghdr: msg_iov, then */
#define MSGHDR_IOVLEN_OFF 24	/* msg_iovlen */

static __always_inline bool plain_is_write(long id)
{
	return id == NR_WRITE || id == NR_SENDTO || id == NR_WRITEV ||
	       id == NR_SENDMSG;
}

/* The iovec array and its count of a vectored call, into a. */
static __always_inline int plain_iov_args(struct pt_regs *regs, long id,
					  struct call_args *a)
{
	void *msg = (void *)BPF_CORE_READ(regs, si);

	a->kind = CALL_PLAIN_IOV;
	if (id == NR_WRITEV || id == NR_READV) {
		a->buf = BPF_CORE_READ(regs, si);
		a->out_len = BPF_CORE_READ(regs, dx);
		return 0;
	}
	if (bpf_probe_read_user(&a->buf, sizeof(a->buf),
				msg + MSGHDR_IOV_OFF) ||
	    bpf_probe_read_user(&a->out_len, sizeof(a->out_len),
				msg + MSGHDR_IOVLEN_OFF))
		return -1;
	return 0;
}

static __always_inline void plain_io_enter(struct pt_regs *regs, long id)
{
	__s32 fd = BPF_CORE_READ(regs, di);
	struct fd_key k = fd_key_of(fd);
	__u64 tid = bpf_get_current_pid_tgid();
	struct call_args a = {
		.ssl = PLAIN_CONN_TAG | (__u32)fd,
		.buf = BPF_CORE_READ(regs, si),
		.kind = CALL_PLAIN,
		.dir = plain_is_write(id) ? LT_DIR_WRITE : LT_DIR_READ,
	};

	if (!bpf_map_lookup_elem(&plain_fds, &k))
		return;
	if (id != NR_READ && id != NR_WRITE && id != NR_SENDTO &&
	    id != NR_RECVFROM && plain_iov_args(regs, id, &a))
		return;
	bpf_map_update_elem(&plain_active, &tid, &a, BPF_ANY);
}

/* The ret bytes a vectored call moved, buffer by buffer, each as a
 * call of its own (the pipeline reads a stream). */
static __always_inline void emit_iov(struct call_args *a, __u64 ret)
{
	struct call_args piece = *a;
	__u64 left = ret, n;
	__u64 iov[2];

	for (int i = 0; i < PLAIN_IOV_MAX; i++) {
		if (i >= a->out_len || !left)
			return;
		if (bpf_probe_read_user(iov, sizeof(iov),
					(void *)(a->buf + i * IOVEC_SIZE)))
			break;
		n = iov[1] < left ? iov[1] : left;
		piece.buf = iov[0];
		emit_data(&piece, n);
		left -= n;
	}
	if (left) {
		stat_add(LT_STAT_TRUNC_CALLS, 1);
		stat_add(LT_STAT_TRUNC_BYTES, left);
	}
}

SEC("tp_btf/sys_enter")
int BPF_PROG(sys_enter, struct pt_regs *regs, long id)
{
	if (id == NR_CONNECT) {
		plain_connect(regs);
		return 0;
	}
	if (id == NR_CLOSE) {
		plain_close(regs);
		return 0;
	}
	if (!is_socket_io(id))
		return 0;
	tls_socket_io(regs);
	plain_io_enter(regs, id);
	return 0;
}

SEC("tp_btf/sys_exit")
int BPF_PROG(sys_exit, struct pt_regs *regs, long ret)
{
	__u64 tid = bpf_get_current_pid_tgid();
	struct call_args *a = bpf_map_lookup_elem(&plain_active, &tid);

	if (!a)
		return 0;
	if (ret > 0) {
		report_fd(a->ssl, (__s32)(__u32)a->ssl);
		if (a->kind == CALL_PLAIN_IOV)
			emit_iov(a, ret);
		else
			emit_data(a, ret);
	}
	bpf_map_delete_elem(&plain_active, &tid);
	return 0;
}

/* ---- processes and libraries ---- */

SEC("tp_btf/sched_process_exec")
int BPF_PROG(proc_exec, struct task_struct *p, pid_t old_pid,
	     struct linux_binprm *bprm)
{
	struct lt_proc e = {};

	fill_hdr(&e.hdr, LT_EV_PROC);
	e.op = LT_PROC_EXEC;
	e.ppid = BPF_CORE_READ(p, real_parent, tgid);
	bpf_probe_read_kernel_str(e.filename, sizeof(e.filename),
				  BPF_CORE_READ(bprm, filename));
	output_urgent(&e, sizeof(e));
	return 0;
}

SEC("tp_btf/sched_process_exit")
int BPF_PROG(proc_exit, struct task_struct *p)
{
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	struct lt_proc e = {};

	/* One record per process: when its last thread, the leader, goes. */
	if ((__u32)pid_tgid != (__u32)(pid_tgid >> 32))
		return 0;
	fill_hdr(&e.hdr, LT_EV_PROC);
	e.op = LT_PROC_EXIT;
	e.exit_code = BPF_CORE_READ(p, exit_code) >> 8;
	output_small(&e, sizeof(e));
	return 0;
}

/*
 * dlopen returned: the process may have just mapped a TLS library
 * (Python's ssl module loads libssl this way), so user space looks at
 * its maps. fentry and LSM programs are not permitted on every kernel
 * we run on (lockdown), a uretprobe on libc's dlopen always is.
 */
SEC("uretprobe")
int BPF_KRETPROBE(dlopen_return, void *handle)
{
	struct lt_libmap m = {};

	if (!handle)
		return 0;
	fill_hdr(&m.hdr, LT_EV_LIBMAP);
	output_urgent(&m, sizeof(m));
	return 0;
}
