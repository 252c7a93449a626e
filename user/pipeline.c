// SPDX-License-Identifier: MIT
/*
 * Capture events in, exchanges out. Each connection gets a parser once
 * its protocol is known; each process gets a small record (exe, user,
 * container) read from /proc while it is alive, because by the time
 * its last exchange is emitted it may be gone.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "http1.h"
#include "http2.h"
#include "log.h"
#include "pipeline.h"
#include "redact.h"

/* RFC 9113 section 3.4: every HTTP/2 client starts with these bytes. */
#define PL_PREFACE "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
#define PL_PREFACE_LEN 24

/* Longest method a request line may start with when sniffing; with
 * the preface length it bounds the bytes kept before deciding. */
#define PL_METHOD_MAX 20
#define PL_SNIFF_MAX PL_PREFACE_LEN

/* Hash buckets: a power of two, doubled when chains average 2. */
#define PL_CONN_BUCKETS_MIN 256
#define PL_PROC_BUCKETS 1024

/* How much of /proc/PID/cgroup we read: one line per hierarchy. */
#define PL_CGROUP_MAX 8192

/* Docker, containerd, cri-o and podman name containers by 64 hex. */
#define PL_CONTAINER_ID_LEN 64

/* Scratch for getpwuid_r when sysconf has no answer. */
#define PL_PW_BUF 4096

enum pl_proto {
	PL_UNKNOWN,	/* no client bytes yet */
	PL_H1,
	PL_H2,
	PL_OTHER,	/* not HTTP: ignored */
	PL_BROKEN,	/* was HTTP, stopped parsing */
};

/* Per direction: where the next chunk of the current call starts. */
struct pl_dir {
	bool seen;
	uint64_t next_off;
	uint64_t call_len;
};

struct pl_conn {
	struct pl_conn *next;	/* hash chain */
	struct pl_conn *lru_prev;	/* toward the least recently used */
	struct pl_conn *lru_next;
	struct pipeline *p;
	struct ev_conn_id id;
	enum pl_proto proto;
	struct h1_conn *h1;
	struct h2_conn *h2;
	struct exchange_sink sink;	/* what the parser emits to: us */
	char sni[EV_HOST_LEN];
	char peer[64];
	uint64_t last_ns;
	struct pl_dir dirs[2];
	uint8_t sniff[PL_SNIFF_MAX];	/* the client's first bytes */
	size_t sniff_len;
	struct ev_task sniff_task;
};

struct pl_proc {
	struct pl_proc *next;
	uint32_t pid;
	size_t nconns;
	uint64_t last_ns;
	bool loaded;	/* /proc was read */
	bool have_user;
	uint32_t uid;	/* whose name info.user holds */
	struct proc_info info;
};

struct pipeline {
	struct pipeline_opts opts;
	struct pl_conn **conns;
	size_t nbuckets;
	size_t nconns;
	size_t conns_max;
	struct pl_conn *lru_old;	/* least recently used: evicted first */
	struct pl_conn *lru_new;
	struct pl_proc *procs[PL_PROC_BUCKETS];
	struct pipeline_stats stats;
};

/* ---- processes ---- */

static size_t pl_proc_slot(uint32_t pid)
{
	return (pid * 2654435761u) % PL_PROC_BUCKETS;
}

static struct pl_proc *pl_proc_find(struct pipeline *p, uint32_t pid)
{
	struct pl_proc *pr = p->procs[pl_proc_slot(pid)];

	while (pr && pr->pid != pid)
		pr = pr->next;
	return pr;
}

static bool pl_is_hex(char ch)
{
	return (ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'f');
}

/* A run of exactly 64 lowercase hex digits in [s, end). */
static const char *pl_find_id(const char *s, const char *end)
{
	const char *run = NULL;

	for (const char *q = s; q <= end; q++) {
		if (q < end && pl_is_hex(*q)) {
			run = run ? run : q;
			continue;
		}
		if (run && q - run == PL_CONTAINER_ID_LEN)
			return run;
		run = NULL;
	}
	return NULL;
}

static bool pl_runtime_line(const char *s, size_t n)
{
	static const char *const names[] = { "docker", "containerd",
					     "crio", "cri-o", "libpod" };

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		if (memmem(s, n, names[i], strlen(names[i])))
			return true;
	}
	return false;
}

int pipeline_container_id(const char *cgroup, char *out, size_t len)
{
	const char *line = cgroup, *eol, *id;

	out[0] = '\0';
	while (*line) {
		eol = strchr(line, '\n');
		if (!eol)
			eol = line + strlen(line);
		id = pl_runtime_line(line, eol - line) ?
			     pl_find_id(line, eol) : NULL;
		if (id && len > PL_CONTAINER_ID_LEN) {
			memcpy(out, id, PL_CONTAINER_ID_LEN);
			out[PL_CONTAINER_ID_LEN] = '\0';
			return 0;
		}
		line = *eol ? eol + 1 : eol;
	}
	return -ENOENT;
}

static void pl_read_container(uint32_t pid, struct proc_info *info)
{
	char path[64], buf[PL_CGROUP_MAX];
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/proc/%" PRIu32 "/cgroup", pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return;
	buf[n] = '\0';
	pipeline_container_id(buf, info->container, sizeof(info->container));
}

static void pl_read_exe(uint32_t pid, struct proc_info *info)
{
	char path[64];
	ssize_t n;

	snprintf(path, sizeof(path), "/proc/%" PRIu32 "/exe", pid);
	n = readlink(path, info->exe, sizeof(info->exe) - 1);
	info->exe[n > 0 ? n : 0] = '\0';
}

static void pl_user_name(uint32_t uid, char *out, size_t len)
{
	long size = sysconf(_SC_GETPW_R_SIZE_MAX);
	struct passwd pw, *res = NULL;
	char *buf;

	out[0] = '\0';
	if (size <= 0)
		size = PL_PW_BUF;
	buf = malloc(size);
	if (!buf)
		return;
	if (getpwuid_r(uid, &pw, buf, size, &res) == 0 && res)
		snprintf(out, len, "%s", pw.pw_name);
	free(buf);
}

/* Reads /proc once, when the process first opens a connection: exec
 * events alone (perhaps every process's) cost no syscalls. */
static void pl_proc_load(struct pipeline *p, struct pl_proc *pr)
{
	if (pr->loaded || p->opts.no_procfs)
		return;
	if (pr->info.exe[0] == '\0')
		pl_read_exe(pr->pid, &pr->info);
	pl_read_container(pr->pid, &pr->info);
	pr->loaded = true;
}

/* The record of pid, made on first sight. */
static struct pl_proc *pl_proc_get(struct pipeline *p, uint32_t pid,
				   uint64_t ts_ns)
{
	struct pl_proc *pr = pl_proc_find(p, pid);
	size_t slot = pl_proc_slot(pid);

	if (pr) {
		pr->last_ns = ts_ns;
		return pr;
	}
	pr = calloc(1, sizeof(*pr));
	if (!pr)
		return NULL;
	pr->pid = pid;
	pr->last_ns = ts_ns;
	pr->next = p->procs[slot];
	p->procs[slot] = pr;
	return pr;
}

static void pl_proc_drop(struct pipeline *p, uint32_t pid)
{
	struct pl_proc **pp = &p->procs[pl_proc_slot(pid)];
	struct pl_proc *pr;

	while (*pp && (*pp)->pid != pid)
		pp = &(*pp)->next;
	pr = *pp;
	if (!pr)
		return;
	*pp = pr->next;
	free(pr);
}

/* Fills ex->proc; the user name is looked up once per uid seen. */
static void pl_fill_proc(struct pipeline *p, struct http_exchange *ex)
{
	struct pl_proc *pr = pl_proc_find(p, ex->conn.pid);

	if (!pr)
		return;
	if (!pr->have_user || pr->uid != ex->task.uid) {
		pr->info.user[0] = '\0';
		if (!p->opts.no_procfs)
			pl_user_name(ex->task.uid, pr->info.user,
				     sizeof(pr->info.user));
		pr->uid = ex->task.uid;
		pr->have_user = true;
	}
	ex->proc = pr->info;
}

/* ---- what leaves ---- */

/* Masks credentials where they sit, so no later stage can leak them
 * whatever it prints (the output stage masks again on its own). */
static void pl_redact(struct http_exchange *ex)
{
	struct hdr_list *lists[] = { &ex->req_headers, &ex->resp_headers };
	char *path;

	for (size_t i = 0; i < 2; i++) {
		for (size_t j = 0; j < lists[i]->n; j++) {
			struct hdr *h = &lists[i]->v[j];

			if (!redact_header_is_secret(h->name))
				continue;
			/* Out of memory: an empty value, never the key. */
			if (hdr_set_value(h, REDACT_MASK, strlen(REDACT_MASK)))
				h->value[0] = '\0';
		}
	}
	if (!ex->path)
		return;
	path = redact_path(ex->path);
	free(ex->path);
	ex->path = path;
}

static void pl_on_exchange(void *ctx, struct http_exchange *ex)
{
	struct pl_conn *c = ctx;
	struct pipeline *p = c->p;

	snprintf(ex->sni, sizeof(ex->sni), "%s", c->sni);
	snprintf(ex->peer, sizeof(ex->peer), "%s", c->peer);
	pl_fill_proc(p, ex);
	pl_redact(ex);
	p->stats.exchanges++;
	if (p->opts.sink.on_exchange)
		p->opts.sink.on_exchange(p->opts.sink.ctx, ex);
}

/* ---- connections ---- */

static uint64_t pl_hash(const struct ev_conn_id *id)
{
	/* splitmix64 finaliser: SSL pointers differ in few bits. */
	uint64_t x = id->ssl ^ ((uint64_t)id->pid << 32) ^ id->pid;

	x ^= x >> 30;
	x *= 0xbf58476d1ce4e5b9ull;
	x ^= x >> 27;
	x *= 0x94d049bb133111ebull;
	return x ^ (x >> 31);
}

static struct pl_conn **pl_conn_slot(struct pipeline *p,
				     const struct ev_conn_id *id)
{
	struct pl_conn **pp = &p->conns[pl_hash(id) & (p->nbuckets - 1)];

	while (*pp && ((*pp)->id.pid != id->pid || (*pp)->id.ssl != id->ssl))
		pp = &(*pp)->next;
	return pp;
}

/* Doubles the buckets; on allocation failure chains just get longer. */
static void pl_conns_grow(struct pipeline *p)
{
	size_t nb = p->nbuckets * 2;
	struct pl_conn **b = calloc(nb, sizeof(*b));
	struct pl_conn *c, *next;

	if (!b)
		return;
	for (size_t i = 0; i < p->nbuckets; i++) {
		for (c = p->conns[i]; c; c = next) {
			size_t slot = pl_hash(&c->id) & (nb - 1);

			next = c->next;
			c->next = b[slot];
			b[slot] = c;
		}
	}
	free(p->conns);
	p->conns = b;
	p->nbuckets = nb;
}

static void pl_lru_unlink(struct pipeline *p, struct pl_conn *c)
{
	if (c->lru_prev)
		c->lru_prev->lru_next = c->lru_next;
	else
		p->lru_old = c->lru_next;
	if (c->lru_next)
		c->lru_next->lru_prev = c->lru_prev;
	else
		p->lru_new = c->lru_prev;
	c->lru_prev = c->lru_next = NULL;
}

static void pl_lru_push(struct pipeline *p, struct pl_conn *c)
{
	c->lru_prev = p->lru_new;
	c->lru_next = NULL;
	if (p->lru_new)
		p->lru_new->lru_next = c;
	else
		p->lru_old = c;
	p->lru_new = c;
}

static void pl_conn_remove(struct pipeline *p, const struct ev_conn_id *id,
			   uint64_t ts_ns, const char *why);

/* Makes room for one more connection under the cap. */
static void pl_conns_evict(struct pipeline *p, uint64_t ts_ns)
{
	while (p->nconns >= p->conns_max && p->lru_old) {
		struct ev_conn_id id = p->lru_old->id;

		/* Once, so a flood of connections is not a flood of logs;
		 * pipeline_free reports the total. */
		if (p->stats.evicted++ == 0)
			log_warn("more than %zu connections open: evicting the "
				 "least recently used", p->conns_max);
		pl_conn_remove(p, &id, ts_ns, PIPELINE_EVICT_NOTE);
	}
}

static struct pl_conn *pl_conn_new(struct pipeline *p,
				   const struct ev_conn_id *id,
				   const struct ev_task *task)
{
	struct pl_conn *c, **pp;
	struct pl_proc *pr;

	pl_conns_evict(p, task->ts_ns);
	c = calloc(1, sizeof(*c));
	pr = pl_proc_get(p, id->pid, task->ts_ns);
	if (!c || !pr) {
		free(c);
		return NULL;
	}
	c->p = p;
	c->id = *id;
	c->sink = (struct exchange_sink){ c, pl_on_exchange };
	c->last_ns = task->ts_ns;
	pl_proc_load(p, pr);
	pr->nconns++;

	if (p->nconns >= 2 * p->nbuckets)
		pl_conns_grow(p);
	pp = pl_conn_slot(p, id);
	*pp = c;
	pl_lru_push(p, c);
	p->nconns++;
	p->stats.conns++;
	return c;
}

static struct pl_conn *pl_conn_get(struct pipeline *p,
				   const struct ev_conn_id *id,
				   const struct ev_task *task)
{
	struct pl_conn *c = *pl_conn_slot(p, id);

	if (!c)
		return pl_conn_new(p, id, task);
	pl_lru_unlink(p, c);
	pl_lru_push(p, c);
	return c;
}

/* Emits what is pending and frees c; the caller unlinks it. */
static void pl_conn_end(struct pipeline *p, struct pl_conn *c,
			uint64_t ts_ns, const char *why)
{
	struct pl_proc *pr = pl_proc_find(p, c->id.pid);

	pl_lru_unlink(p, c);
	if (c->h1)
		h1_conn_close(c->h1, ts_ns, why);
	if (c->h2)
		h2_conn_close(c->h2, ts_ns, why);
	h1_conn_free(c->h1);
	h2_conn_free(c->h2);
	if (pr && pr->nconns > 0)
		pr->nconns--;
	p->nconns--;
	free(c);
}

static void pl_conn_remove(struct pipeline *p, const struct ev_conn_id *id,
			   uint64_t ts_ns, const char *why)
{
	struct pl_conn **pp = pl_conn_slot(p, id);
	struct pl_conn *c = *pp;

	if (!c)
		return;
	*pp = c->next;
	pl_conn_end(p, c, ts_ns, why);
}

/* Ends every connection for which match() holds. */
static void pl_conns_end_if(struct pipeline *p,
			    bool (*match)(const struct pl_conn *, uint64_t),
			    uint64_t arg, uint64_t ts_ns, const char *why)
{
	for (size_t i = 0; i < p->nbuckets; i++) {
		struct pl_conn **pp = &p->conns[i];

		while (*pp) {
			struct pl_conn *c = *pp;

			if (!match(c, arg)) {
				pp = &c->next;
				continue;
			}
			*pp = c->next;
			pl_conn_end(p, c, ts_ns, why);
		}
	}
}

static bool pl_match_pid(const struct pl_conn *c, uint64_t pid)
{
	return c->id.pid == pid;
}

static bool pl_match_idle(const struct pl_conn *c, uint64_t now_ns)
{
	return now_ns > c->last_ns && now_ns - c->last_ns >= PIPELINE_IDLE_NS;
}

static bool pl_match_all(const struct pl_conn *c, uint64_t unused)
{
	return true;
}

static void pl_end_pid(struct pipeline *p, uint32_t pid, uint64_t ts_ns,
		       const char *why)
{
	struct pl_proc *pr = pl_proc_find(p, pid);

	if (pr && pr->nconns > 0)
		pl_conns_end_if(p, pl_match_pid, pid, ts_ns, why);
}

/* ---- bytes ---- */

static void pl_conn_gap(struct pipeline *p, struct pl_conn *c,
			enum ev_dir dir)
{
	switch (c->proto) {
	case PL_H1:
		h1_conn_gap(c->h1, dir);
		break;
	case PL_H2:
		h2_conn_gap(c->h2, dir);
		break;
	case PL_UNKNOWN:
		/* What follows no longer continues the sniffed bytes. */
		if (dir == EV_DIR_WRITE)
			c->sniff_len = 0;
		return;
	default:
		return;
	}
	p->stats.gaps++;
}

/* Whether bytes in ev's direction were lost before ev: a hole inside
 * a call, or the previous call ending short of its length (cut at the
 * capture cap, or its last chunks dropped from the ring buffer). */
static bool pl_track(struct pl_conn *c, const struct ev_data *ev)
{
	struct pl_dir *d = &c->dirs[ev->dir == EV_DIR_READ];
	bool lost;

	if (ev->offset == 0)
		lost = d->seen && d->next_off < d->call_len;
	else
		lost = !d->seen || ev->offset != d->next_off;
	d->seen = true;
	d->next_off = ev->offset + ev->len;
	d->call_len = ev->call_len;
	return lost;
}

static void pl_feed(struct pipeline *p, struct pl_conn *c, enum ev_dir dir,
		    const uint8_t *data, size_t len,
		    const struct ev_task *task)
{
	int rc;

	if (len == 0)
		return;
	if (c->proto == PL_H1)
		rc = h1_conn_feed(c->h1, dir, data, len, task);
	else
		rc = h2_conn_feed(c->h2, dir, data, len, task);
	if (rc == 0)
		return;

	log_debug("pid %" PRIu32 ": %s parsing stopped: %s", c->id.pid,
		  c->proto == PL_H1 ? "HTTP/1.1" : "HTTP/2", strerror(-rc));
	p->stats.parse_errors++;
	if (c->h1)
		h1_conn_close(c->h1, task->ts_ns, "HTTP/1.1 parse error");
	if (c->h2)
		h2_conn_close(c->h2, task->ts_ns, "HTTP/2 parse error");
	c->proto = PL_BROKEN;
}

static enum pl_proto pl_sniff(const uint8_t *b, size_t n)
{
	size_t k = n < PL_PREFACE_LEN ? n : PL_PREFACE_LEN;

	if (memcmp(b, PL_PREFACE, k) == 0)
		return n >= PL_PREFACE_LEN ? PL_H2 : PL_UNKNOWN;
	/* A request line: an upper-case method, then a space. */
	for (size_t i = 0; i < n && i <= PL_METHOD_MAX; i++) {
		if (b[i] == ' ')
			return i > 0 ? PL_H1 : PL_OTHER;
		if ((b[i] < 'A' || b[i] > 'Z') && b[i] != '-' && b[i] != '_')
			return PL_OTHER;
	}
	return n <= PL_METHOD_MAX ? PL_UNKNOWN : PL_OTHER;
}

static int pl_start_parser(struct pl_conn *c, enum pl_proto proto)
{
	if (proto == PL_H1)
		c->h1 = h1_conn_new(&c->sink, &c->id);
	else
		c->h2 = h2_conn_new(&c->sink, &c->id);
	if (!c->h1 && !c->h2)
		return -ENOMEM;
	c->proto = proto;
	return 0;
}

/* Both protocols begin with the client: a read before the first write
 * means capture joined mid-way, and so does a write that does not
 * start a call. Either waits for the start of a write call. */
static void pl_sniff_feed(struct pipeline *p, struct pl_conn *c,
			  const struct ev_data *ev)
{
	size_t n = PL_SNIFF_MAX - c->sniff_len;
	enum pl_proto proto;

	if (ev->dir != EV_DIR_WRITE || (c->sniff_len == 0 && ev->offset))
		return;
	if (c->sniff_len == 0)
		c->sniff_task = ev->task;
	n = ev->len < n ? ev->len : n;
	memcpy(c->sniff + c->sniff_len, ev->data, n);
	c->sniff_len += n;

	proto = pl_sniff(c->sniff, c->sniff_len);
	if (proto == PL_UNKNOWN)
		return;
	if (proto == PL_OTHER || pl_start_parser(c, proto)) {
		c->proto = PL_OTHER;
		p->stats.non_http++;
		return;
	}
	pl_feed(p, c, ev->dir, c->sniff, c->sniff_len, &c->sniff_task);
	if (c->proto == proto)
		pl_feed(p, c, ev->dir, ev->data + n, ev->len - n, &ev->task);
}

/* A preface at the start of a write on a known connection: the SSL
 * pointer was reused without the close being seen. */
static bool pl_is_restart(const struct pl_conn *c, const struct ev_data *ev)
{
	return c && c->proto != PL_UNKNOWN && ev->dir == EV_DIR_WRITE &&
	       ev->offset == 0 && ev->len >= PL_PREFACE_LEN &&
	       memcmp(ev->data, PL_PREFACE, PL_PREFACE_LEN) == 0;
}

static void pl_on_data(void *ctx, const struct ev_data *ev)
{
	struct pipeline *p = ctx;
	struct pl_conn *c = *pl_conn_slot(p, &ev->conn);

	if (pl_is_restart(c, ev))
		pl_conn_remove(p, &ev->conn, ev->task.ts_ns,
			       "connection reused");
	c = pl_conn_get(p, &ev->conn, &ev->task);
	if (!c)
		return;
	c->last_ns = ev->task.ts_ns;

	if (pl_track(c, ev))
		pl_conn_gap(p, c, ev->dir);
	if (c->proto == PL_UNKNOWN)
		pl_sniff_feed(p, c, ev);
	else if (c->proto == PL_H1 || c->proto == PL_H2)
		pl_feed(p, c, ev->dir, ev->data, ev->len, &ev->task);
}

/* ---- other events ---- */

static void pl_on_conn(void *ctx, const struct ev_conn *ev)
{
	struct pipeline *p = ctx;
	struct pl_conn *c;

	if (ev->op == EV_CONN_CLOSE) {
		pl_conn_remove(p, &ev->conn, ev->task.ts_ns,
			       "connection closed");
		return;
	}
	c = pl_conn_get(p, &ev->conn, &ev->task);
	if (!c)
		return;
	c->last_ns = ev->task.ts_ns;
	if (ev->op == EV_CONN_SNI)
		snprintf(c->sni, sizeof(c->sni), "%s", ev->host);
	if (ev->op != EV_CONN_FD)
		return;
	/* capture.c has already named the peer, from the kernel or, failing
	 * that, from /proc; a recording carries what it found. */
	snprintf(c->peer, sizeof(c->peer), "%s", ev->peer);
}

static void pl_on_proc(void *ctx, const struct ev_proc *ev)
{
	struct pipeline *p = ctx;
	struct pl_proc *pr;

	if (ev->op == EV_PROC_EXIT) {
		pl_end_pid(p, ev->task.pid, ev->task.ts_ns, "process exited");
		pl_proc_drop(p, ev->task.pid);
		return;
	}
	if (ev->op != EV_PROC_EXEC)
		return;

	/* The old image's connections died with it. */
	pl_end_pid(p, ev->task.pid, ev->task.ts_ns, "process exec'd");
	pr = pl_proc_get(p, ev->task.pid, ev->task.ts_ns);
	if (pr)
		snprintf(pr->info.exe, sizeof(pr->info.exe), "%s", ev->exe);
}

/* The ring buffer says records were dropped or unreadable but not
 * whose: every open connection may have lost bytes either way, so
 * all of them resynchronise. Cut calls are not counted here: their
 * own chunks show it (pl_track). */
static void pl_on_loss(void *ctx, const struct ev_loss *ev)
{
	struct pipeline *p = ctx;

	if (ev->rb_drops == 0 && ev->read_fails == 0)
		return;
	for (size_t i = 0; i < p->nbuckets; i++) {
		for (struct pl_conn *c = p->conns[i]; c; c = c->next) {
			pl_conn_gap(p, c, EV_DIR_WRITE);
			pl_conn_gap(p, c, EV_DIR_READ);
		}
	}
}

/* ---- lifetime ---- */

struct pipeline *pipeline_new(const struct pipeline_opts *opts)
{
	struct pipeline *p = calloc(1, sizeof(*p));

	if (!p)
		return NULL;
	p->opts = *opts;
	p->conns_max = opts->conns_max ? opts->conns_max : PIPELINE_CONNS_MAX;
	p->nbuckets = PL_CONN_BUCKETS_MIN;
	p->conns = calloc(p->nbuckets, sizeof(*p->conns));
	if (!p->conns) {
		free(p);
		return NULL;
	}
	return p;
}

void pipeline_free(struct pipeline *p)
{
	if (!p)
		return;
	pl_conns_end_if(p, pl_match_all, 0, 0, "capture stopped");
	if (p->stats.evicted)
		log_warn("%" PRIu64 " connections evicted to stay under %zu "
			 "open", p->stats.evicted, p->conns_max);
	for (size_t i = 0; i < PL_PROC_BUCKETS; i++) {
		while (p->procs[i]) {
			struct pl_proc *pr = p->procs[i];

			p->procs[i] = pr->next;
			free(pr);
		}
	}
	free(p->conns);
	free(p);
}

struct ev_sink pipeline_ev_sink(struct pipeline *p)
{
	return (struct ev_sink){
		.ctx = p,
		.on_data = pl_on_data,
		.on_conn = pl_on_conn,
		.on_proc = pl_on_proc,
		.on_loss = pl_on_loss,
	};
}

/* Processes whose exit was never seen (lost events) go once idle. */
static void pl_procs_prune(struct pipeline *p, uint64_t now_ns)
{
	for (size_t i = 0; i < PL_PROC_BUCKETS; i++) {
		struct pl_proc **pp = &p->procs[i];

		while (*pp) {
			struct pl_proc *pr = *pp;

			if (pr->nconns > 0 || now_ns <= pr->last_ns ||
			    now_ns - pr->last_ns < PIPELINE_IDLE_NS) {
				pp = &pr->next;
				continue;
			}
			*pp = pr->next;
			free(pr);
		}
	}
}

/* An idle HTTP/2 connection closed here and used again later cannot
 * be decoded (its HPACK state is gone): it will count as non-HTTP. */
void pipeline_tick(struct pipeline *p, uint64_t now_ns)
{
	pl_conns_end_if(p, pl_match_idle, now_ns, now_ns, "idle timeout");
	pl_procs_prune(p, now_ns);
}

void pipeline_get_stats(const struct pipeline *p, struct pipeline_stats *st)
{
	*st = p->stats;
}
