// SPDX-License-Identifier: MIT
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <gelf.h>
#include <glob.h>
#include <libelf.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <bpf/libbpf.h>

#include "attach.h"
#include "log.h"
#include "tls.skel.h"

#define MAX_LINKS_PER_FILE 16

/* One uprobe: which function, which program, entry or return. */
struct probe_spec {
	const char *func;
	const char *prog;
	bool retprobe;
};

/* OpenSSL 1.1 and 3.x. SSL_write is what marks a file as a TLS
 * library; the _ex forms are absent before 1.1.1. */
static const struct probe_spec probe_specs[] = {
	{ "SSL_write", "ssl_write_enter", false },
	{ "SSL_write", "ssl_call_return", true },
	{ "SSL_write_ex", "ssl_write_ex_enter", false },
	{ "SSL_write_ex", "ssl_call_return", true },
	{ "SSL_read", "ssl_read_enter", false },
	{ "SSL_read", "ssl_call_return", true },
	{ "SSL_read_ex", "ssl_read_ex_enter", false },
	{ "SSL_read_ex", "ssl_call_return", true },
	{ "SSL_ctrl", "ssl_ctrl_enter", false },
	{ "SSL_set_fd", "ssl_set_fd_enter", false },
	{ "SSL_free", "ssl_free_enter", false },
};

#define N_SPECS (sizeof(probe_specs) / sizeof(probe_specs[0]))

/* Every file looked at, TLS library or not, so each is read once. */
struct known_file {
	dev_t dev;
	ino_t ino;
	bool is_tls;
	int nlinks;
	struct bpf_link *links[MAX_LINKS_PER_FILE];
};

struct attacher {
	struct tls_bpf *skel;
	struct bpf_link *dlopen_links[1];
	int ndlopen;
	struct known_file *files;
	size_t nfiles;
	size_t cap;
	int attached;
};

/* Where distributions put the system libssl. */
static const char *const system_lib_globs[] = {
	"/lib/x86_64-linux-gnu/libssl.so*",
	"/usr/lib/x86_64-linux-gnu/libssl.so*",
	"/lib/aarch64-linux-gnu/libssl.so*",
	"/usr/lib/aarch64-linux-gnu/libssl.so*",
	"/usr/lib64/libssl.so*",
	"/lib64/libssl.so*",
	"/usr/lib/libssl.so*",
};

struct attacher *attacher_new(struct tls_bpf *skel)
{
	struct attacher *a = calloc(1, sizeof(*a));

	if (!a)
		return NULL;
	a->skel = skel;
	if (elf_version(EV_CURRENT) == EV_NONE) {
		log_err("libelf: %s", elf_errmsg(-1));
		free(a);
		return NULL;
	}
	return a;
}

void attacher_free(struct attacher *a)
{
	if (!a)
		return;
	for (size_t i = 0; i < a->nfiles; i++) {
		for (int j = 0; j < a->files[i].nlinks; j++)
			bpf_link__destroy(a->files[i].links[j]);
	}
	for (int i = 0; i < a->ndlopen; i++)
		bpf_link__destroy(a->dlopen_links[i]);
	free(a->files);
	free(a);
}

int attacher_count(const struct attacher *a)
{
	return a->attached;
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

/* Function names whose file offsets one ELF pass looks up. */
struct sym_query {
	const char *const *names;
	size_t n;
	size_t *offsets;	/* 0: not defined in the file */
};

/* A symbol's address to its offset in the file, through the PT_LOAD
 * segment that maps it: uprobes are placed by file offset. */
static size_t vaddr_to_offset(Elf *elf, GElf_Addr addr)
{
	size_t nph;

	if (elf_getphdrnum(elf, &nph))
		return 0;
	for (size_t i = 0; i < nph; i++) {
		GElf_Phdr ph;

		if (!gelf_getphdr(elf, (int)i, &ph) || ph.p_type != PT_LOAD ||
		    !(ph.p_flags & PF_X))
			continue;
		if (addr >= ph.p_vaddr && addr < ph.p_vaddr + ph.p_memsz)
			return addr - ph.p_vaddr + ph.p_offset;
	}
	return 0;
}

static void match_symbol(Elf *elf, const GElf_Sym *sym, const char *name,
			 struct sym_query *q)
{
	for (size_t i = 0; i < q->n; i++) {
		if (q->offsets[i] || strcmp(name, q->names[i]) != 0)
			continue;
		q->offsets[i] = vaddr_to_offset(elf, sym->st_value);
	}
}

static void scan_symtab(Elf *elf, Elf_Scn *scn, struct sym_query *q)
{
	Elf_Data *data = elf_getdata(scn, NULL);
	GElf_Shdr sh;
	size_t n;

	if (!data || !gelf_getshdr(scn, &sh) || !sh.sh_entsize)
		return;
	n = sh.sh_size / sh.sh_entsize;
	for (size_t i = 0; i < n; i++) {
		GElf_Sym sym;
		const char *name;

		if (!gelf_getsym(data, (int)i, &sym) ||
		    sym.st_shndx == SHN_UNDEF ||
		    GELF_ST_TYPE(sym.st_info) != STT_FUNC)
			continue;
		name = elf_strptr(elf, sh.sh_link, sym.st_name);
		if (name)
			match_symbol(elf, &sym, name, q);
	}
}

/* Fills q->offsets from the dynamic and static symbol tables. Returns
 * 0, or -ENOEXEC when path is not a readable ELF file. */
static int elf_lookup(const char *path, struct sym_query *q)
{
	Elf_Scn *scn = NULL;
	Elf *elf;
	int fd;

	memset(q->offsets, 0, q->n * sizeof(*q->offsets));
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	elf = elf_begin(fd, ELF_C_READ_MMAP, NULL);
	if (!elf || elf_kind(elf) != ELF_K_ELF) {
		elf_end(elf);
		close(fd);
		return -ENOEXEC;
	}
	while ((scn = elf_nextscn(elf, scn))) {
		GElf_Shdr sh;

		if (gelf_getshdr(scn, &sh) && (sh.sh_type == SHT_DYNSYM ||
					       sh.sh_type == SHT_SYMTAB))
			scan_symtab(elf, scn, q);
	}
	elf_end(elf);
	close(fd);
	return 0;
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

static const char *const tls_funcs[] = {
	"SSL_write", "SSL_write_ex", "SSL_read", "SSL_read_ex",
	"SSL_ctrl", "SSL_set_fd", "SSL_free",
};

#define N_TLS_FUNCS (sizeof(tls_funcs) / sizeof(tls_funcs[0]))

static size_t func_offset(const size_t *offsets, const char *func)
{
	for (size_t i = 0; i < N_TLS_FUNCS; i++) {
		if (strcmp(tls_funcs[i], func) == 0)
			return offsets[i];
	}
	return 0;
}

static int attach_file(struct attacher *a, struct known_file *f,
		       const char *path, const size_t *offsets)
{
	for (size_t i = 0; i < N_SPECS; i++) {
		const struct probe_spec *spec = &probe_specs[i];
		size_t off = func_offset(offsets, spec->func);
		struct bpf_program *prog;
		int err;

		if (!off)
			continue;
		prog = bpf_object__find_program_by_name(a->skel->obj,
							spec->prog);
		if (!prog || f->nlinks >= MAX_LINKS_PER_FILE)
			return -EINVAL;
		err = attach_at(prog, path, off, spec->retprobe,
				&f->links[f->nlinks]);
		if (err) {
			log_warn("attach %s in %s: %s", spec->func, path,
				 strerror(-err));
			return err;
		}
		f->nlinks++;
	}
	return 0;
}

/* Names the real file, not the /proc/PID/exe link it came through. */
static void log_attached(const struct known_file *f, const char *path)
{
	char *real = realpath(path, NULL);

	if (real && strcmp(real, path) != 0) {
		log_info("attached %d probes to %s (via %s)", f->nlinks, real,
			 path);
		free(real);
		return;
	}
	free(real);
	log_info("attached %d probes to %s", f->nlinks, path);
}

int attacher_add_file(struct attacher *a, const char *path)
{
	size_t offsets[N_TLS_FUNCS];
	struct sym_query q = { tls_funcs, N_TLS_FUNCS, offsets };
	struct known_file *f;
	struct stat st;
	int err;

	if (stat(path, &st) || !S_ISREG(st.st_mode))
		return 0;
	if (find_known(a, st.st_dev, st.st_ino))
		return 0;
	f = add_known(a, st.st_dev, st.st_ino);
	if (!f)
		return -ENOMEM;
	if (elf_lookup(path, &q) || !func_offset(offsets, "SSL_write"))
		return 0;

	f->is_tls = true;
	err = attach_file(a, f, path, offsets);
	if (err) {
		for (int j = 0; j < f->nlinks; j++)
			bpf_link__destroy(f->links[j]);
		f->nlinks = 0;
		return err;
	}
	a->attached++;
	log_attached(f, path);
	return 1;
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
	struct sym_query q = { names, 1, &off };
	int err;

	for (size_t i = 0; i < sizeof(libc_paths) / sizeof(libc_paths[0]);
	     i++) {
		const char *path = libc_paths[i];

		if (elf_lookup(path, &q) || !off)
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
	if (strncmp(base, "libssl", 6) != 0 || !strstr(base, ".so"))
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

	snprintf(exe, sizeof(exe), "/proc/%d/exe", pid);
	if (attacher_add_file(a, exe) > 0)
		added++;
	return added + scan_maps(a, pid);
}

int attacher_scan_all(struct attacher *a, pid_t only)
{
	struct dirent *de;
	int added = add_system_libs(a);
	DIR *d;

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
