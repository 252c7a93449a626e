// SPDX-License-Identifier: MIT
#include <errno.h>
#include <fcntl.h>
#include <mntent.h>
#include <poll.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/fanotify.h>
#include <sys/stat.h>
#include <unistd.h>

#include "attach.h"
#include "execgate.h"
#include "log.h"

#define GATE_EVENT_BUF 8192
#define GATE_MAX_FS 256

struct execgate {
	struct attacher *attacher;
	int fan_fd;
	int stop_fd;	/* eventfd: wakes the thread to stop */
	pthread_t thread;
	bool running;
	uint64_t execs;
	uint64_t attached;
};

/* Filesystems that hold no programs, or refuse filesystem marks. */
static bool fs_type_skipped(const char *type)
{
	static const char *const skip[] = {
		"proc", "sysfs", "cgroup", "cgroup2", "devpts", "mqueue",
		"debugfs", "tracefs", "bpf", "securityfs", "pstore",
		"configfs", "fusectl", "hugetlbfs", "autofs", "binfmt_misc",
		"devtmpfs", "nsfs", "rpc_pipefs",
	};

	for (size_t i = 0; i < sizeof(skip) / sizeof(skip[0]); i++) {
		if (strcmp(type, skip[i]) == 0)
			return true;
	}
	return false;
}

static bool dev_seen(dev_t *devs, int n, dev_t dev)
{
	for (int i = 0; i < n; i++) {
		if (devs[i] == dev)
			return true;
	}
	return false;
}

/* One filesystem mark per mounted filesystem that may hold programs.
 * Returns how many were marked. */
static int mark_filesystems(int fan_fd)
{
	dev_t devs[GATE_MAX_FS];
	int ndevs = 0, marked = 0;
	struct mntent *m;
	FILE *f = setmntent("/proc/self/mounts", "re");

	if (!f)
		return 0;
	while ((m = getmntent(f)) && ndevs < GATE_MAX_FS) {
		struct stat st;

		if (fs_type_skipped(m->mnt_type) || stat(m->mnt_dir, &st) ||
		    dev_seen(devs, ndevs, st.st_dev))
			continue;
		devs[ndevs++] = st.st_dev;
		if (fanotify_mark(fan_fd, FAN_MARK_ADD | FAN_MARK_FILESYSTEM,
				  FAN_OPEN_EXEC_PERM, AT_FDCWD, m->mnt_dir))
			log_debug("exec gate: cannot mark %s (%s): %s",
				  m->mnt_dir, m->mnt_type, strerror(errno));
		else
			marked++;
	}
	endmntent(f);
	return marked;
}

static void gate_answer(struct execgate *g, int fd)
{
	struct fanotify_response r = { .fd = fd, .response = FAN_ALLOW };

	/* Never leave an exec waiting: a failed write is logged, and the
	 * kernel allows everything pending when our descriptor closes. */
	if (write(g->fan_fd, &r, sizeof(r)) != sizeof(r))
		log_warn("exec gate: answer failed: %s", strerror(errno));
}

static void gate_event(struct execgate *g,
		       const struct fanotify_event_metadata *m)
{
	char path[64];

	if (m->fd < 0)
		return;
	if (m->mask & FAN_OPEN_EXEC_PERM) {
		/* The magic link names the very file being exec'd, in any
		 * mount namespace; the uprobe lands on its inode. */
		snprintf(path, sizeof(path), "/proc/self/fd/%d", m->fd);
		if (attacher_add_file(g->attacher, path) > 0)
			__atomic_add_fetch(&g->attached, 1, __ATOMIC_RELAXED);
		__atomic_add_fetch(&g->execs, 1, __ATOMIC_RELAXED);
		gate_answer(g, m->fd);
	}
	close(m->fd);
}

static int gate_read(struct execgate *g)
{
	char buf[GATE_EVENT_BUF]
		__attribute__((aligned(__alignof__(struct fanotify_event_metadata))));
	const struct fanotify_event_metadata *m;
	ssize_t n = read(g->fan_fd, buf, sizeof(buf));

	if (n < 0)
		return errno == EAGAIN || errno == EINTR ? 0 : -errno;
	m = (const struct fanotify_event_metadata *)buf;
	while (FAN_EVENT_OK(m, n)) {
		if (m->vers != FANOTIFY_METADATA_VERSION)
			return -EPROTO;
		gate_event(g, m);
		m = FAN_EVENT_NEXT(m, n);
	}
	return 0;
}

static void *gate_thread(void *arg)
{
	struct execgate *g = arg;
	struct pollfd fds[2] = {
		{ .fd = g->fan_fd, .events = POLLIN },
		{ .fd = g->stop_fd, .events = POLLIN },
	};

	while (poll(fds, 2, -1) >= 0 || errno == EINTR) {
		if (fds[1].revents)
			break;
		if (fds[0].revents && gate_read(g) < 0) {
			log_warn("exec gate: stopped: %s", strerror(errno));
			break;
		}
	}
	return NULL;
}

static struct execgate *gate_fail(struct execgate *g, const char *why)
{
	log_warn("exec gate off (%s): a program that starts and talks TLS "
		 "at once may have its first calls missed", why);
	if (g->fan_fd >= 0)
		close(g->fan_fd);
	if (g->stop_fd >= 0)
		close(g->stop_fd);
	free(g);
	return NULL;
}

struct execgate *execgate_start(struct attacher *a)
{
	struct execgate *g = calloc(1, sizeof(*g));

	if (!g)
		return NULL;
	g->attacher = a;
	g->stop_fd = eventfd(0, EFD_CLOEXEC);
	g->fan_fd = fanotify_init(FAN_CLASS_CONTENT | FAN_CLOEXEC |
				  FAN_NONBLOCK, O_RDONLY | O_LARGEFILE);
	if (g->fan_fd < 0)
		return gate_fail(g, strerror(errno));
	if (g->stop_fd < 0)
		return gate_fail(g, "eventfd");
	if (mark_filesystems(g->fan_fd) == 0)
		return gate_fail(g, "no filesystem could be marked");
	if (pthread_create(&g->thread, NULL, gate_thread, g))
		return gate_fail(g, "thread");
	g->running = true;
	log_info("exec gate on: new binaries are attached before they run");
	return g;
}

void execgate_stop(struct execgate *g)
{
	uint64_t one = 1;

	if (!g)
		return;
	if (g->running) {
		if (write(g->stop_fd, &one, sizeof(one)) != sizeof(one))
			log_warn("exec gate: stop: %s", strerror(errno));
		pthread_join(g->thread, NULL);
	}
	close(g->fan_fd);
	close(g->stop_fd);
	free(g);
}

void execgate_get_stats(const struct execgate *g, struct execgate_stats *s)
{
	s->execs = __atomic_load_n(&g->execs, __ATOMIC_RELAXED);
	s->attached = __atomic_load_n(&g->attached, __ATOMIC_RELAXED);
}
