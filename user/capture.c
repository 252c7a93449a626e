// SPDX-License-Identifier: MIT
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "attach.h"
#include "capture.h"
#include "execgate.h"
#include "llmtap.h"
#include "log.h"
#include "peer.h"
#include "tls.skel.h"

#define BTF_PATH "/sys/kernel/btf/vmlinux"
#define UPROBE_PMU "/sys/bus/event_source/devices/uprobe/type"

/* Capability bits from linux/capability.h. */
#define CAP_SYS_ADMIN_BIT 21
#define CAP_PERFMON_BIT 38
#define CAP_BPF_BIT 39

/* A library mapping is seen before /proc/PID/maps shows it; look again
 * on the next few polls. */
#define RESCAN_TRIES 5
#define RESCAN_MAX 256

struct rescan {
	pid_t pid;
	int tries;
};

struct capture {
	struct tls_bpf *skel;
	struct ring_buffer *rb;
	struct attacher *attacher;
	struct execgate *gate;
	struct ev_sink sink;
	int64_t boot_to_wall_ns;
	uint64_t stats_seen[LT_STAT_MAX];
	int ncpus;
	struct rescan rescans[RESCAN_MAX];
	int nrescans;
};

static int libbpf_log(enum libbpf_print_level level, const char *fmt,
		      va_list ap)
{
	if (log_get_level() < LOG_DEBUG)
		return 0;
	return vfprintf(stderr, fmt, ap);
}

static int64_t clock_ns(clockid_t id)
{
	struct timespec ts;

	clock_gettime(id, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* Boot time read on both sides of the wall clock, so the offset is off
 * by at most half the time between the reads. */
static void update_clock_offset(struct capture *c)
{
	int64_t boot0 = clock_ns(CLOCK_BOOTTIME);
	int64_t wall = clock_ns(CLOCK_REALTIME);
	int64_t boot1 = clock_ns(CLOCK_BOOTTIME);

	c->boot_to_wall_ns = wall - (boot0 + (boot1 - boot0) / 2);
}

/* ---- start conditions ---- */

static uint64_t effective_caps(void)
{
	unsigned long long caps = 0;
	char line[256];
	FILE *f = fopen("/proc/self/status", "re");

	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f)) {
		if (sscanf(line, "CapEff: %llx", &caps) == 1)
			break;
	}
	fclose(f);
	return caps;
}

static bool has_privileges(void)
{
	uint64_t caps = effective_caps();
	uint64_t bpf_perfmon = (1ull << CAP_BPF_BIT) |
			       (1ull << CAP_PERFMON_BIT);

	if (geteuid() == 0 || (caps & (1ull << CAP_SYS_ADMIN_BIT)))
		return true;
	return (caps & bpf_perfmon) == bpf_perfmon;
}

static int check_start_conditions(void)
{
	if (!has_privileges()) {
		log_err("not permitted: run llmtap as root, or give it "
			"CAP_BPF and CAP_PERFMON");
		return -EPERM;
	}
	if (access(BTF_PATH, R_OK)) {
		log_err("this kernel has no BTF (%s is missing): llmtap "
			"needs a kernel built with CONFIG_DEBUG_INFO_BTF",
			BTF_PATH);
		return -ENOTSUP;
	}
	if (access(UPROBE_PMU, R_OK)) {
		log_err("this kernel has no uprobe support (%s is missing): "
			"llmtap needs CONFIG_UPROBE_EVENTS", UPROBE_PMU);
		return -ENOTSUP;
	}
	return 0;
}

/* ---- ring-buffer records to events ---- */

static void task_from_hdr(const struct capture *c, const struct lt_hdr *h,
			  struct ev_task *t)
{
	t->ts_ns = h->ts_ns + c->boot_to_wall_ns;
	t->pid = h->pid;
	t->tid = h->tid;
	t->uid = h->uid;
	memcpy(t->comm, h->comm, sizeof(t->comm));
	t->comm[sizeof(t->comm) - 1] = '\0';
}

static int on_data(struct capture *c, const struct lt_data *d, size_t size)
{
	struct ev_data ev = { 0 };

	if (size < LT_DATA_HDR_LEN || d->chunk_len > size - LT_DATA_HDR_LEN)
		return -EINVAL;
	task_from_hdr(c, &d->hdr, &ev.task);
	ev.conn.pid = d->hdr.pid;
	ev.conn.ssl = d->ssl;
	ev.dir = d->dir == LT_DIR_READ ? EV_DIR_READ : EV_DIR_WRITE;
	ev.call_len = d->call_len;
	ev.offset = d->offset;
	ev.truncated = d->flags & LT_F_TRUNCATED;
	ev.data = d->data;
	ev.len = d->chunk_len;
	if (c->sink.on_data)
		c->sink.on_data(c->sink.ctx, &ev);
	return 0;
}

/* The kernel read the peer while the socket surely existed; /proc is
 * only the fallback, since a short-lived client may be gone by now. */
static int format_peer(const struct lt_conn *k, char *out, size_t len)
{
	char addr[INET6_ADDRSTRLEN];
	int af = k->family == 2 ? AF_INET : k->family == 10 ? AF_INET6 : 0;

	if (!af || !inet_ntop(af, k->addr, addr, sizeof(addr)))
		return -EINVAL;
	snprintf(out, len, af == AF_INET ? "%s:%u" : "[%s]:%u", addr,
		 k->port);
	return 0;
}

static int on_conn(struct capture *c, const struct lt_conn *k, size_t size)
{
	struct ev_conn ev = { 0 };

	if (size < sizeof(*k))
		return -EINVAL;
	task_from_hdr(c, &k->hdr, &ev.task);
	ev.conn.pid = k->hdr.pid;
	ev.conn.ssl = k->ssl;
	ev.op = (enum ev_conn_op)k->op;
	ev.fd = k->fd;
	snprintf(ev.host, sizeof(ev.host), "%s", k->host);
	if (ev.op == EV_CONN_FD && format_peer(k, ev.peer, sizeof(ev.peer)))
		peer_of_fd(k->hdr.pid, k->fd, ev.peer, sizeof(ev.peer));
	if (c->sink.on_conn)
		c->sink.on_conn(c->sink.ctx, &ev);
	return 0;
}

static void queue_rescan(struct capture *c, pid_t pid)
{
	if (c->nrescans < RESCAN_MAX)
		c->rescans[c->nrescans++] = (struct rescan){ pid, 0 };
}

static int on_proc(struct capture *c, const struct lt_proc *p, size_t size)
{
	struct ev_proc ev = { 0 };

	if (size < sizeof(*p))
		return -EINVAL;
	task_from_hdr(c, &p->hdr, &ev.task);
	ev.op = (enum ev_proc_op)p->op;
	ev.ppid = p->ppid;
	ev.exit_code = p->exit_code;
	snprintf(ev.exe, sizeof(ev.exe), "%s", p->filename);

	/* A new binary may carry OpenSSL itself (Node.js does). Not while
	 * closing: the attacher is gone then. */
	if (ev.op == EV_PROC_EXEC && c->attacher)
		attacher_scan_pid(c->attacher, p->hdr.pid);
	if (c->sink.on_proc)
		c->sink.on_proc(c->sink.ctx, &ev);
	return 0;
}

static int on_libmap(struct capture *c, const struct lt_libmap *m,
		     size_t size)
{
	if (size < sizeof(*m) || !c->attacher)
		return -EINVAL;
	if (attacher_scan_pid(c->attacher, m->hdr.pid) == 0)
		queue_rescan(c, m->hdr.pid);
	return 0;
}

static int handle_record(void *ctx, void *data, size_t size)
{
	struct capture *c = ctx;
	const struct lt_hdr *h = data;

	if (size < sizeof(*h))
		return 0;
	switch (h->kind) {
	case LT_EV_DATA:
		on_data(c, data, size);
		break;
	case LT_EV_CONN:
		on_conn(c, data, size);
		break;
	case LT_EV_PROC:
		on_proc(c, data, size);
		break;
	case LT_EV_LIBMAP:
		on_libmap(c, data, size);
		break;
	}
	return 0;
}

/* ---- lifecycle ---- */

static void set_rodata(struct tls_bpf *skel, const struct capture_opts *o)
{
	skel->rodata->filter_pid = o->pid;
	skel->rodata->self_pid = getpid();
	skel->rodata->filter_uid = o->uid >= 0 ? (__u32)o->uid : (__u32)-1;
	if (o->comm)
		strncpy((char *)skel->rodata->filter_comm, o->comm,
			LT_COMM_LEN - 1);
	skel->rodata->cap_bytes = o->cap_bytes ? o->cap_bytes
					       : CAPTURE_DEFAULT_CAP_BYTES;
}

static int attach_tracepoints(struct capture *c)
{
	struct tls_bpf *skel = c->skel;
	int err;

	skel->links.proc_exec = bpf_program__attach(skel->progs.proc_exec);
	skel->links.proc_exit = bpf_program__attach(skel->progs.proc_exit);
	skel->links.sys_enter = bpf_program__attach(skel->progs.sys_enter);
	skel->links.sys_exit = bpf_program__attach(skel->progs.sys_exit);
	if (!skel->links.proc_exec || !skel->links.proc_exit ||
	    !skel->links.sys_enter || !skel->links.sys_exit) {
		err = -errno;
		log_err("attach process tracepoints: %s", strerror(-err));
		return err;
	}
	return 0;
}

int capture_parse_ports(const char *list, uint16_t *ports, int max)
{
	const char *p = list;
	int n = 0;

	if (!*list || strcmp(list, "none") == 0)
		return 0;
	while (*p) {
		char *end;
		unsigned long v = strtoul(p, &end, 10);

		if (end == p || v == 0 || v > 65535 || n == max ||
		    (*end && *end != ',')) {
			log_err("bad port list '%s': want numbers 1-65535 "
				"separated by commas, at most %d", list, max);
			return -EINVAL;
		}
		ports[n++] = (uint16_t)v;
		p = *end ? end + 1 : end;
	}
	return n;
}

/* The plain-HTTP ports go into a map: user space may change them. */
static int set_plain_ports(struct capture *c, const char *list)
{
	uint16_t ports[CAPTURE_PLAIN_PORTS_MAX];
	int fd = bpf_map__fd(c->skel->maps.plain_ports);
	int n = capture_parse_ports(list ? list : CAPTURE_DEFAULT_PLAIN_PORTS,
				    ports, CAPTURE_PLAIN_PORTS_MAX);
	__u8 one = 1;

	for (int i = 0; i < n; i++) {
		if (bpf_map_update_elem(fd, &ports[i], &one, BPF_ANY))
			return -errno;
	}
	return n < 0 ? n : 0;
}

static int load_programs(struct capture *c, const struct capture_opts *o)
{
	uint64_t rb_bytes = o->ringbuf_bytes ? o->ringbuf_bytes
					     : CAPTURE_DEFAULT_RINGBUF_BYTES;
	int err;

	c->skel = tls_bpf__open();
	if (!c->skel) {
		log_err("open BPF object: %s", strerror(errno));
		return -errno;
	}
	set_rodata(c->skel, o);
	err = bpf_map__set_max_entries(c->skel->maps.rb, rb_bytes);
	if (!err)
		err = tls_bpf__load(c->skel);
	if (err) {
		log_err("load BPF programs: %s (run with -v for the "
			"verifier log)", strerror(-err));
		return err;
	}
	return 0;
}

static int start_targets(struct capture *c, pid_t only)
{
	int n;

	c->attacher = attacher_new(c->skel);
	if (!c->attacher)
		return -ENOMEM;
	n = attacher_scan_all(c->attacher, only);
	if (n < 0)
		return n;
	if (attacher_count(c->attacher) == 0 && only) {
		log_err("no TLS library found: no libssl in the system "
			"library paths nor in process %d", only);
		return -ENOENT;
	}
	if (attacher_count(c->attacher) == 0) {
		log_err("no TLS library found: no libssl in the system "
			"library paths nor in any running process");
		return -ENOENT;
	}
	return 0;
}

static void log_settings(const struct capture_opts *o)
{
	log_info("capture: up to %llu bytes per call, %llu-byte ring "
		 "buffer; plain HTTP on ports %s; pid %d, uid %lld, comm %s "
		 "(0, -1, - mean all)",
		 (unsigned long long)(o->cap_bytes ? o->cap_bytes :
				      CAPTURE_DEFAULT_CAP_BYTES),
		 (unsigned long long)(o->ringbuf_bytes ? o->ringbuf_bytes :
				      CAPTURE_DEFAULT_RINGBUF_BYTES),
		 o->plain_ports ? (*o->plain_ports ? o->plain_ports : "none")
				: CAPTURE_DEFAULT_PLAIN_PORTS,
		 o->pid, (long long)o->uid, o->comm ? o->comm : "-");
}

struct capture *capture_open(const struct capture_opts *opts,
			     const struct ev_sink *sink)
{
	struct capture *c;

	if (check_start_conditions())
		return NULL;
	c = calloc(1, sizeof(*c));
	if (!c)
		return NULL;
	c->sink = *sink;
	c->ncpus = libbpf_num_possible_cpus();
	update_clock_offset(c);
	libbpf_set_print(libbpf_log);

	/* Load with the settings, then the process hooks, then the ring
	 * buffer, and only then the uprobes: no event is missed. */
	if (load_programs(c, opts) || set_plain_ports(c, opts->plain_ports) ||
	    attach_tracepoints(c))
		goto fail;
	c->rb = ring_buffer__new(bpf_map__fd(c->skel->maps.rb),
				 handle_record, c, NULL);
	if (!c->rb) {
		log_err("open ring buffer: %s", strerror(errno));
		goto fail;
	}
	if (start_targets(c, opts->pid))
		goto fail;
	if (!opts->no_exec_gate)
		c->gate = execgate_start(c->attacher);
	log_settings(opts);
	return c;

fail:
	capture_close(c);
	return NULL;
}

static void run_rescans(struct capture *c)
{
	int kept = 0;

	for (int i = 0; i < c->nrescans; i++) {
		struct rescan r = c->rescans[i];

		if (attacher_scan_pid(c->attacher, r.pid) > 0)
			continue;
		if (++r.tries < RESCAN_TRIES)
			c->rescans[kept++] = r;
	}
	c->nrescans = kept;
}

int capture_poll(struct capture *c, int timeout_ms)
{
	int n = ring_buffer__poll(c->rb, timeout_ms);

	if (n < 0 && n != -EINTR) {
		log_err("ring buffer poll: %s", strerror(-n));
		return n;
	}
	/* Most records come without a wakeup: the BPF side wakes us only
	 * past a fill level, so take what is there after every wait. */
	n = ring_buffer__consume(c->rb);
	if (c->nrescans)
		run_rescans(c);
	return n < 0 ? 0 : n;
}

static int read_stats(struct capture *c, uint64_t out[LT_STAT_MAX])
{
	uint64_t *percpu = calloc(c->ncpus, sizeof(uint64_t));
	int fd = bpf_map__fd(c->skel->maps.stats);

	if (!percpu)
		return -ENOMEM;
	for (__u32 i = 0; i < LT_STAT_MAX; i++) {
		out[i] = 0;
		if (bpf_map_lookup_elem(fd, &i, percpu))
			continue;
		for (int cpu = 0; cpu < c->ncpus; cpu++)
			out[i] += percpu[cpu];
	}
	free(percpu);
	return 0;
}

void capture_report_losses(struct capture *c)
{
	uint64_t now[LT_STAT_MAX], d[LT_STAT_MAX];
	struct ev_loss ev = { 0 };
	bool changed = false;

	update_clock_offset(c);
	if (read_stats(c, now))
		return;
	for (int i = 0; i < LT_STAT_MAX; i++) {
		d[i] = now[i] - c->stats_seen[i];
		changed |= d[i] != 0 && i != LT_STAT_NESTED;
		c->stats_seen[i] = now[i];
	}
	if (!changed)
		return;

	ev.ts_ns = clock_ns(CLOCK_REALTIME);
	ev.rb_drops = d[LT_STAT_RB_DROPS];
	ev.rb_drop_bytes = d[LT_STAT_RB_DROP_BYTES];
	ev.trunc_calls = d[LT_STAT_TRUNC_CALLS];
	ev.trunc_bytes = d[LT_STAT_TRUNC_BYTES];
	ev.read_fails = d[LT_STAT_READ_FAILS];
	if (ev.rb_drops || ev.read_fails)
		log_warn("lost %llu records (%llu bytes) to a full ring "
			 "buffer, %llu unreadable buffers",
			 (unsigned long long)ev.rb_drops,
			 (unsigned long long)ev.rb_drop_bytes,
			 (unsigned long long)ev.read_fails);
	if (c->sink.on_loss)
		c->sink.on_loss(c->sink.ctx, &ev);
}

json_t *capture_health(struct capture *c)
{
	return json_pack("{s:o, s:b}", "targets",
			 attacher_targets(c->attacher), "exec_gate",
			 c->gate != NULL);
}

void capture_close(struct capture *c)
{
	if (!c)
		return;

	/* Stop new records first, then drain what is queued; the drain
	 * must not attach anything again. */
	execgate_stop(c->gate);
	attacher_free(c->attacher);
	c->attacher = NULL;
	c->nrescans = 0;
	if (c->skel)
		tls_bpf__detach(c->skel);
	if (c->rb) {
		ring_buffer__consume(c->rb);
		capture_report_losses(c);
	}
	ring_buffer__free(c->rb);
	tls_bpf__destroy(c->skel);
	free(c);
}
