// SPDX-License-Identifier: MIT
#include <dirent.h>
#include <errno.h>
#include <glob.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <bpf/libbpf.h>

#include "attach.h"
#include "elfsym.h"
#include "log.h"
#include "tls.skel.h"

/* Entry probes plus one per RET of Go's Read, which has a handful. */
#define MAX_LINKS_PER_FILE 48
#define GO_RETS_MAX 32

/* One uprobe: which function, which program, where in it. */
enum probe_at {
	AT_ENTRY,
	AT_RETURN,	/* a uretprobe */
	AT_EACH_RET,	/* a uprobe on each RET instruction (Go) */
};

struct probe_spec {
	const char *func;
	const char *prog;
	enum probe_at at;
};

/* A TLS implementation: the symbol that marks a file as carrying it,
 * and its probes. */
struct tls_stack {
	const char *name;
	const char *marker;
	const struct probe_spec *specs;
	size_t nspecs;
};

/* OpenSSL 1.1 and 3.x, and BoringSSL, which keeps these names. The
 * _ex forms are absent before 1.1.1. */
static const struct probe_spec openssl_specs[] = {
	{ "SSL_write", "ssl_write_enter", AT_ENTRY },
	{ "SSL_write", "ssl_call_return", AT_RETURN },
	{ "SSL_write_ex", "ssl_write_ex_enter", AT_ENTRY },
	{ "SSL_write_ex", "ssl_call_return", AT_RETURN },
	{ "SSL_read", "ssl_read_enter", AT_ENTRY },
	{ "SSL_read", "ssl_call_return", AT_RETURN },
	{ "SSL_read_ex", "ssl_read_ex_enter", AT_ENTRY },
	{ "SSL_read_ex", "ssl_call_return", AT_RETURN },
	{ "SSL_ctrl", "ssl_ctrl_enter", AT_ENTRY },
	{ "SSL_set_fd", "ssl_set_fd_enter", AT_ENTRY },
	{ "SSL_free", "ssl_free_enter", AT_ENTRY },
};

/* GnuTLS's record calls have SSL_read/SSL_write's shape: (session,
 * buffer, size) in, a byte count or a negative error out. */
static const struct probe_spec gnutls_specs[] = {
	{ "gnutls_record_send", "ssl_write_enter", AT_ENTRY },
	{ "gnutls_record_send", "ssl_call_return", AT_RETURN },
	{ "gnutls_record_recv", "ssl_read_enter", AT_ENTRY },
	{ "gnutls_record_recv", "ssl_call_return", AT_RETURN },
	{ "gnutls_server_name_set", "gnutls_sni_enter", AT_ENTRY },
	{ "gnutls_transport_set_int2", "ssl_set_fd_enter", AT_ENTRY },
	{ "gnutls_deinit", "ssl_free_enter", AT_ENTRY },
};

static const struct probe_spec go_specs[] = {
	{ "crypto/tls.(*Conn).Write", "go_write_enter", AT_ENTRY },
	{ "crypto/tls.(*Conn).Read", "go_read_enter", AT_ENTRY },
	{ "crypto/tls.(*Conn).Read", "go_read_ret", AT_EACH_RET },
};

#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

static const struct tls_stack tls_stacks[] = {
	{ "OpenSSL", "SSL_write", openssl_specs, ARRAY_LEN(openssl_specs) },
	{ "GnuTLS", "gnutls_record_send", gnutls_specs,
	  ARRAY_LEN(gnutls_specs) },
	{ "Go crypto/tls", "crypto/tls.(*Conn).Write", go_specs,
	  ARRAY_LEN(go_specs) },
};

#define N_STACKS ARRAY_LEN(tls_stacks)

/* Every function name of every stack, for one pass over the symbols. */
#define N_FUNCS_MAX 32

struct func_table {
	const char *names[N_FUNCS_MAX];
	size_t offsets[N_FUNCS_MAX];
	size_t sizes[N_FUNCS_MAX];
	size_t n;
};

/* Every file looked at, TLS library or not, so each is read once. */
struct known_file {
	dev_t dev;
	ino_t ino;
	bool is_tls;
	bool internal;	/* OpenSSL probed at its internal functions */
	char *path;	/* the real path, when attached */
	const char *stack;
	int nlinks;
	struct bpf_link *links[MAX_LINKS_PER_FILE];
};

struct attacher {
	/* The exec gate's thread attaches too. Recursive: scanning a
	 * process adds its files through the public entry point. */
	pthread_mutex_t lock;
	struct tls_bpf *skel;
	struct bpf_link *dlopen_links[1];
	int ndlopen;
	struct known_file *files;
	size_t nfiles;
	size_t cap;
	int attached;
};

/* Where distributions put the system TLS libraries. */
static const char *const system_lib_globs[] = {
	"/lib/x86_64-linux-gnu/libssl.so*",
	"/usr/lib/x86_64-linux-gnu/libssl.so*",
	"/usr/lib/x86_64-linux-gnu/libgnutls.so*",
	"/lib/aarch64-linux-gnu/libssl.so*",
	"/usr/lib/aarch64-linux-gnu/libssl.so*",
	"/usr/lib/aarch64-linux-gnu/libgnutls.so*",
	"/usr/lib64/libssl.so*",
	"/usr/lib64/libgnutls.so*",
	"/lib64/libssl.so*",
	"/usr/lib/libssl.so*",
};

struct attacher *attacher_new(struct tls_bpf *skel)
{
	struct attacher *a = calloc(1, sizeof(*a));

	if (!a)
		return NULL;
	pthread_mutexattr_t attr;

	pthread_mutexattr_init(&attr);
	pthread_mutexattr_settype(&attr, PTHREAD_MUTEX_RECURSIVE);
	pthread_mutex_init(&a->lock, &attr);
	pthread_mutexattr_destroy(&attr);
	a->skel = skel;
	return a;
}

void attacher_free(struct attacher *a)
{
	if (!a)
		return;
	for (size_t i = 0; i < a->nfiles; i++) {
		for (int j = 0; j < a->files[i].nlinks; j++)
			bpf_link__destroy(a->files[i].links[j]);
		free(a->files[i].path);
	}
	for (int i = 0; i < a->ndlopen; i++)
		bpf_link__destroy(a->dlopen_links[i]);
	pthread_mutex_destroy(&a->lock);
	free(a->files);
	free(a);
}

int attacher_count(struct attacher *a)
{
	int n;

	pthread_mutex_lock(&a->lock);
	n = a->attached;
	pthread_mutex_unlock(&a->lock);
	return n;
}

static struct known_file *find_known(struct attacher *a, dev_t dev,
				     ino_t ino)
{
	for (size_t i = 0; i < a->nfiles; i++) {
		if (a->files[i].dev == dev && a->files[i].ino == ino)
			return &a->files[i];
	}
	return NULL;
}

static struct known_file *add_known(struct attacher *a, dev_t dev,
				    ino_t ino)
{
	struct known_file *f;

	if (a->nfiles == a->cap) {
		size_t ncap = a->cap ? a->cap * 2 : 64;
		struct known_file *nf;

		nf = realloc(a->files, ncap * sizeof(*nf));
		if (!nf)
			return NULL;
		a->files = nf;
		a->cap = ncap;
	}
	f = &a->files[a->nfiles++];
	memset(f, 0, sizeof(*f));
	f->dev = dev;
	f->ino = ino;
	return f;
}

static int attach_at(struct bpf_program *prog, const char *path,
		     size_t offset, bool retprobe, struct bpf_link **out)
{
	LIBBPF_OPTS(bpf_uprobe_opts, opts, .retprobe = retprobe);

	/* pid -1: every process that maps this file. */
	*out = bpf_program__attach_uprobe_opts(prog, -1, path, offset,
					       &opts);
	return *out ? 0 : -errno;
}

static void func_table_init(struct func_table *t)
{
	t->n = 0;
	for (size_t i = 0; i < N_STACKS; i++) {
		for (size_t j = 0; j < tls_stacks[i].nspecs; j++) {
			const char *f = tls_stacks[i].specs[j].func;

			if (t->n && strcmp(t->names[t->n - 1], f) == 0)
				continue;
			t->names[t->n++] = f;
		}
	}
}

static int func_table_lookup(struct func_table *t, const char *path)
{
	struct elfsym_query q = { t->names, t->n, t->offsets, t->sizes };

	return elfsym_lookup(path, &q);
}

static size_t func_offset(const struct func_table *t, const char *func,
			  size_t *size)
{
	for (size_t i = 0; i < t->n; i++) {
		if (strcmp(t->names[i], func) == 0) {
			if (size)
				*size = t->sizes[i];
			return t->offsets[i];
		}
	}
	return 0;
}

static int add_link(struct known_file *f, struct bpf_program *prog,
		    const char *path, size_t off, bool retprobe)
{
	int err;

	if (f->nlinks >= MAX_LINKS_PER_FILE)
		return -E2BIG;
	err = attach_at(prog, path, off, retprobe, &f->links[f->nlinks]);
	if (!err)
		f->nlinks++;
	return err;
}

/* A probe on every RET of the function: Go's stand-in for uretprobes. */
static int attach_each_ret(struct known_file *f, struct bpf_program *prog,
			   const char *path, size_t off, size_t size)
{
	size_t rets[GO_RETS_MAX];
	int n = elfsym_find_rets(path, off, size, rets, GO_RETS_MAX);
	int err = 0;

	if (n <= 0)
		return n < 0 ? n : -ENOENT;
	for (int i = 0; i < n && !err; i++)
		err = add_link(f, prog, path, rets[i], false);
	return err;
}

static int attach_spec(struct attacher *a, struct known_file *f,
		       const char *path, const struct func_table *t,
		       const struct probe_spec *spec)
{
	size_t size = 0;
	size_t off = func_offset(t, spec->func, &size);
	struct bpf_program *prog;

	if (!off)
		return 0;
	prog = bpf_object__find_program_by_name(a->skel->obj, spec->prog);
	if (!prog)
		return -EINVAL;
	if (spec->at == AT_EACH_RET)
		return attach_each_ret(f, prog, path, off, size);
	return add_link(f, prog, path, off, spec->at == AT_RETURN);
}

static int attach_stack(struct attacher *a, struct known_file *f,
			const char *path, const struct func_table *t,
			const struct tls_stack *stack)
{
	for (size_t i = 0; i < stack->nspecs; i++) {
		const struct probe_spec *spec = &stack->specs[i];
		int err = attach_spec(a, f, path, t, spec);

		if (err) {
			log_warn("attach %s in %s: %s", spec->func, path,
				 strerror(-err));
			return err;
		}
	}
	return 0;
}

/* How far into SSL_write/SSL_read their call to the shared internal
 * function must be for us to trust it. */
#define PUBLIC_CALL_SCAN 128

/*
 * OpenSSL's SSL_write and SSL_write_ex (and the read pair) both call
 * one internal function with (ssl, buf, num, size_t *count); in 3.x
 * SSL_*_ex is only a stack adjustment and that call. A probe at the
 * internal function, which starts with a push the kernel emulates,
 * needs no single-step trap, the bulk of a uprobe's cost; and one
 * entry and one return probe there cover both public functions.
 * Returns the internal function's offset, or 0 to probe the public
 * entries as usual.
 */
static size_t shared_internal(const char *path, const struct func_table *t,
			      const char *ex, const char *plain)
{
	size_t ex_off = func_offset(t, ex, NULL);
	size_t plain_off = func_offset(t, plain, NULL);
	size_t target;

	if (!ex_off || !plain_off || getenv("LLMTAP_PROBE_ENTRY"))
		return 0;
	target = elfsym_wrapper_target(path, ex_off);
	if (!target || target == plain_off ||
	    !elfsym_calls(path, plain_off, PUBLIC_CALL_SCAN, target))
		return 0;
	return target;
}

static int attach_internal(struct attacher *a, struct known_file *f,
			   const char *path, size_t off, bool write)
{
	struct bpf_program *enter = write ? a->skel->progs.ssl_write_ex_enter
					  : a->skel->progs.ssl_read_ex_enter;
	int err = add_link(f, enter, path, off, false);

	return err ? err : add_link(f, a->skel->progs.ssl_call_return, path,
				    off, true);
}

static bool is_data_func(const char *func)
{
	return !strcmp(func, "SSL_write") || !strcmp(func, "SSL_write_ex") ||
	       !strcmp(func, "SSL_read") || !strcmp(func, "SSL_read_ex");
}

/* OpenSSL with both internal functions found: probes there, and the
 * public data functions left alone. 1 when done this way, 0 when the
 * binary does not allow it, a negative errno on error. */
static int attach_openssl_internal(struct attacher *a, struct known_file *f,
				   const char *path,
				   const struct func_table *t,
				   const struct tls_stack *stack)
{
	size_t w = shared_internal(path, t, "SSL_write_ex", "SSL_write");
	size_t r = shared_internal(path, t, "SSL_read_ex", "SSL_read");
	int err;

	if (!w || !r)
		return 0;
	err = attach_internal(a, f, path, w, true);
	if (!err)
		err = attach_internal(a, f, path, r, false);
	for (size_t i = 0; i < stack->nspecs && !err; i++) {
		if (!is_data_func(stack->specs[i].func))
			err = attach_spec(a, f, path, t, &stack->specs[i]);
	}
	if (err)
		return err;
	f->internal = true;
	return 1;
}

static void detach_file(struct known_file *f)
{
	for (int j = 0; j < f->nlinks; j++)
		bpf_link__destroy(f->links[j]);
	f->nlinks = 0;
}

/* Names the real file, not the /proc/PID/exe link it came through. */
static void log_attached(const struct known_file *f, const char *path,
			 const char *stack)
{
	char *real = realpath(path, NULL);

	if (real && strcmp(real, path) != 0) {
		log_info("attached %d probes to %s (%s%s, via %s)", f->nlinks,
			 real, stack, f->internal ? ", internal" : "", path);
		free(real);
		return;
	}
	free(real);
	log_info("attached %d probes to %s (%s%s)", f->nlinks, path, stack,
		 f->internal ? ", internal" : "");
}

/* Said once per binary: each file is looked at once. */
static void warn_if_stripped_go(const char *path)
{
	char *real;

	if (elfsym_is_stripped_go(path) != 1)
		return;
	real = realpath(path, NULL);
	log_warn("%s is a stripped Go program: its TLS traffic cannot be "
		 "seen (crypto/tls has no symbols to attach to)",
		 real ? real : path);
	free(real);
}

/* The stack whose marker the file defines, or NULL. */
static const struct tls_stack *find_stack(const struct func_table *t)
{
	for (size_t i = 0; i < N_STACKS; i++) {
		if (func_offset(t, tls_stacks[i].marker, NULL))
			return &tls_stacks[i];
	}
	return NULL;
}

static int add_file(struct attacher *a, const char *path)
{
	const struct tls_stack *stack;
	struct known_file *f;
	struct func_table t;
	struct stat st;
	int err;

	if (stat(path, &st) || !S_ISREG(st.st_mode))
		return 0;
	if (find_known(a, st.st_dev, st.st_ino))
		return 0;
	f = add_known(a, st.st_dev, st.st_ino);
	if (!f)
		return -ENOMEM;
	func_table_init(&t);
	if (func_table_lookup(&t, path))
		return 0;
	stack = find_stack(&t);
	if (!stack) {
		warn_if_stripped_go(path);
		return 0;
	}

	f->is_tls = true;
	err = stack->specs == openssl_specs ?
	      attach_openssl_internal(a, f, path, &t, stack) : 0;
	if (err < 0)
		detach_file(f);
	err = err > 0 ? 0 : attach_stack(a, f, path, &t, stack);
	if (err) {
		detach_file(f);
		return err;
	}
	a->attached++;
	f->stack = stack->name;
	f->path = realpath(path, NULL);
	log_attached(f, path, stack->name);
	return 1;
}

json_t *attacher_targets(struct attacher *a)
{
	json_t *list = json_array();

	pthread_mutex_lock(&a->lock);
	for (size_t i = 0; list && i < a->nfiles; i++) {
		const struct known_file *f = &a->files[i];

		if (!f->is_tls || !f->nlinks)
			continue;
		json_array_append_new(list, json_pack(
			"{s:s, s:s, s:i, s:s}", "path", f->path ? f->path : "?",
			"stack", f->stack, "probes", f->nlinks, "placement",
			f->internal ? "internal" : "entry"));
	}
	pthread_mutex_unlock(&a->lock);
	return list;
}

int attacher_add_file(struct attacher *a, const char *path)
{
	int res;

	pthread_mutex_lock(&a->lock);
	res = add_file(a, path);
	pthread_mutex_unlock(&a->lock);
	return res;
}

/* Where glibc (2.34 and later: dlopen lives in libc) is. */
static const char *const libc_paths[] = {
	"/lib/x86_64-linux-gnu/libc.so.6",
	"/lib/aarch64-linux-gnu/libc.so.6",
	"/lib64/libc.so.6",
};

/*
 * A return probe on dlopen tells us when a process may have loaded a
 * TLS library at run time, as Python's ssl module does. Without it
 * such a library is found only when the process is next scanned.
 */
static void attach_dlopen(struct attacher *a)
{
	static const char *const names[] = { "dlopen" };
	size_t off;
	struct elfsym_query q = { names, 1, &off, NULL };
	int err;

	for (size_t i = 0; i < sizeof(libc_paths) / sizeof(libc_paths[0]);
	     i++) {
		const char *path = libc_paths[i];

		if (elfsym_lookup(path, &q) || !off)
			continue;
		err = attach_at(a->skel->progs.dlopen_return, path, off, true,
				&a->dlopen_links[0]);
		if (err)
			log_warn("attach dlopen in %s: %s", path,
				 strerror(-err));
		else
			a->ndlopen = 1;
		return;
	}
}

static int add_system_libs(struct attacher *a)
{
	int added = 0;

	for (size_t i = 0; i < sizeof(system_lib_globs) /
				    sizeof(system_lib_globs[0]); i++) {
		glob_t g;

		if (glob(system_lib_globs[i], 0, NULL, &g))
			continue;
		for (size_t j = 0; j < g.gl_pathc; j++) {
			if (attacher_add_file(a, g.gl_pathv[j]) > 0)
				added++;
		}
		globfree(&g);
	}
	return added;
}

/* A mapped file's path, if the maps line names a TLS library. */
static const char *maps_tls_path(char *line)
{
	char *path = strchr(line, '/');
	const char *base;

	if (!path)
		return NULL;
	path[strcspn(path, "\n")] = '\0';
	base = strrchr(path, '/') + 1;
	if (strncmp(base, "libssl", 6) != 0 &&
	    strncmp(base, "libgnutls", 9) != 0)
		return NULL;
	if (!strstr(base, ".so"))
		return NULL;
	return path;
}

static int scan_maps(struct attacher *a, pid_t pid)
{
	char fname[64], full[4096 + 64];
	char *line = NULL;
	size_t cap = 0;
	int added = 0;
	FILE *f;

	snprintf(fname, sizeof(fname), "/proc/%d/maps", pid);
	f = fopen(fname, "re");
	if (!f)
		return 0;
	while (getline(&line, &cap, f) > 0) {
		const char *path = maps_tls_path(line);

		if (!path)
			continue;
		/* Through the process's root: it may be in a container. */
		snprintf(full, sizeof(full), "/proc/%d/root%s", pid, path);
		if (attacher_add_file(a, full) > 0)
			added++;
	}
	free(line);
	fclose(f);
	return added;
}

int attacher_scan_pid(struct attacher *a, pid_t pid)
{
	char exe[64];
	int added = 0;

	pthread_mutex_lock(&a->lock);
	snprintf(exe, sizeof(exe), "/proc/%d/exe", pid);
	if (attacher_add_file(a, exe) > 0)
		added++;
	added += scan_maps(a, pid);
	pthread_mutex_unlock(&a->lock);
	return added;
}

int attacher_scan_all(struct attacher *a, pid_t only)
{
	struct dirent *de;
	int added = add_system_libs(a);
	DIR *d;

	/* Called once, before the exec gate's thread starts: no lock. */
	attach_dlopen(a);
	if (only)
		return added + attacher_scan_pid(a, only);
	d = opendir("/proc");
	if (!d)
		return -errno;
	while ((de = readdir(d))) {
		pid_t pid = atoi(de->d_name);

		if (pid > 0 && pid != getpid())
			added += attacher_scan_pid(a, pid);
	}
	closedir(d);
	return added;
}
