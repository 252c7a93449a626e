// SPDX-License-Identifier: MIT
/*
 * Capabilities after attach (privs.h), with the raw syscalls of
 * <linux/capability.h> rather than libcap: four calls, no new library,
 * and libcap's cap_set_proc changes one thread just the same.
 *
 * Each thread drops its own sets: the main thread directly, the others
 * from a signal handler, one at a time, the way glibc's setuid reaches
 * every thread. A thread created meanwhile starts with its creator's
 * sets, so /proc/self/task is read again until no new thread shows.
 */
#include <dirent.h>
#include <errno.h>
#include <semaphore.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <linux/capability.h>

#include "log.h"
#include "privs.h"

#define PRIVS_BIT(cap) (1ull << (cap))
/* Capability numbers go up to 63 in the two 32-bit words of v3. */
#define PRIVS_CAP_MAX 63
#define PRIVS_NAMES_LEN 256

struct privs_cap {
	int cap;
	const char *name;
};

/* What the daemon still does after attach, and what it needs for it. */
static const struct privs_cap privs_keep[] = {
	{ CAP_BPF, "CAP_BPF" },	/* maps, links to new binaries */
	{ CAP_PERFMON, "CAP_PERFMON" },	/* uprobes on new binaries */
	/* fanotify answers; perf_event_open on kernels before 5.8 */
	{ CAP_SYS_ADMIN, "CAP_SYS_ADMIN" },
	{ CAP_SYS_PTRACE, "CAP_SYS_PTRACE" },	/* others' /proc/PID */
	{ CAP_DAC_READ_SEARCH, "CAP_DAC_READ_SEARCH" },	/* their files */
	/* a rotated output file in a directory root does not own */
	{ CAP_DAC_OVERRIDE, "CAP_DAC_OVERRIDE" },
	/* RLIMIT_MEMLOCK for maps, on kernels before 5.11 */
	{ CAP_SYS_RESOURCE, "CAP_SYS_RESOURCE" },
};

/* Read by the signal handler; set before any signal is sent. */
static uint64_t privs_keep_mask;
static volatile sig_atomic_t privs_rc;
static sem_t privs_sem;

static uint64_t privs_keep_list(void)
{
	uint64_t m = 0;
	size_t i;

	for (i = 0; i < sizeof(privs_keep) / sizeof(privs_keep[0]); i++)
		m |= PRIVS_BIT(privs_keep[i].cap);
	return m;
}

/* Drops this thread's bounding set outside keep, while CAP_SETPCAP is
 * still effective; without it the set stays as the service manager
 * made it. Only syscalls: it runs in a signal handler. */
static int privs_drop_bounding(uint64_t keep, uint32_t eff_lo)
{
	int cap;

	if (!(eff_lo & PRIVS_BIT(CAP_SETPCAP)))
		return 0;
	for (cap = 0; cap <= PRIVS_CAP_MAX; cap++) {
		if (keep & PRIVS_BIT(cap))
			continue;
		/* -1: a number this kernel does not have. */
		if (prctl(PR_CAPBSET_READ, cap, 0, 0, 0) != 1)
			continue;
		if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0))
			return -errno;
	}
	return 0;
}

/* The calling thread's sets down to keep. Async-signal-safe. */
static int privs_apply(uint64_t keep)
{
	struct __user_cap_header_struct h = {
		.version = _LINUX_CAPABILITY_VERSION_3,
	};
	struct __user_cap_data_struct d[2];
	int i, err;

	if (syscall(SYS_capget, &h, d))
		return -errno;
	err = privs_drop_bounding(keep, d[0].effective);
	if (err)
		return err;
	for (i = 0; i < 2; i++) {
		uint32_t k = (uint32_t)(keep >> (32 * i));

		d[i].permitted &= k;
		d[i].effective &= k;
		d[i].inheritable &= k;
	}
	return syscall(SYS_capset, &h, d) ? -errno : 0;
}

static void privs_on_signal(int sig)
{
	int saved = errno;

	privs_rc = privs_apply(privs_keep_mask);
	sem_post(&privs_sem);
	errno = saved;
}

/* One other thread; 0 also when it has gone meanwhile. */
static int privs_thread(pid_t tid)
{
	struct timespec ts;

	privs_rc = 0;
	if (syscall(SYS_tgkill, getpid(), tid, PRIVS_SIGNAL))
		return errno == ESRCH ? 0 : -errno;
	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += PRIVS_WAIT_S;
	while (sem_timedwait(&privs_sem, &ts)) {
		if (errno != EINTR)
			return -ETIMEDOUT;
	}
	return privs_rc;
}

static bool privs_seen(const pid_t *done, size_t n, pid_t tid)
{
	size_t i;

	for (i = 0; i < n; i++) {
		if (done[i] == tid)
			return true;
	}
	return false;
}

/* One pass over /proc/self/task; *fresh counts threads not seen yet. */
static int privs_pass(pid_t *done, size_t *n, size_t *fresh)
{
	DIR *dir = opendir("/proc/self/task");
	struct dirent *e;
	int err = 0;

	if (!dir)
		return -errno;
	*fresh = 0;
	while (!err && (e = readdir(dir))) {
		pid_t tid = (pid_t)atoi(e->d_name);

		if (tid <= 0 || privs_seen(done, *n, tid))
			continue;
		if (*n == PRIVS_MAX_THREADS) {
			err = -E2BIG;
			break;
		}
		done[(*n)++] = tid;
		(*fresh)++;
		err = privs_thread(tid);
	}
	closedir(dir);
	return err;
}

/* Every thread but this one. The handler stays installed: a late
 * signal must find it, not the default action (which ends us). */
static int privs_others(void)
{
	struct sigaction sa = { .sa_handler = privs_on_signal,
				.sa_flags = SA_RESTART };
	pid_t done[PRIVS_MAX_THREADS];
	size_t n = 0, fresh = 1;
	int err = 0;

	if (sem_init(&privs_sem, 0, 0))
		return -errno;
	sigemptyset(&sa.sa_mask);
	if (sigaction(PRIVS_SIGNAL, &sa, NULL))
		return -errno;
	done[n++] = (pid_t)syscall(SYS_gettid);
	while (!err && fresh)
		err = privs_pass(done, &n, &fresh);
	return err;
}

static void privs_log_kept(void)
{
	struct __user_cap_header_struct h = {
		.version = _LINUX_CAPABILITY_VERSION_3,
	};
	struct __user_cap_data_struct d[2];
	char names[PRIVS_NAMES_LEN] = "";
	size_t i, len = 0;

	if (syscall(SYS_capget, &h, d))
		return;
	for (i = 0; i < sizeof(privs_keep) / sizeof(privs_keep[0]); i++) {
		int cap = privs_keep[i].cap;

		if (!(d[cap / 32].permitted & PRIVS_BIT(cap % 32)))
			continue;
		len += (size_t)snprintf(names + len, sizeof(names) - len,
					"%s%s", len ? " " : "",
					privs_keep[i].name);
		if (len >= sizeof(names))
			break;
	}
	log_info("capabilities: kept %s; the others dropped",
		 len ? names : "none");
}

int privs_drop(void)
{
	int err;

	privs_keep_mask = privs_keep_list();
	err = privs_others();
	if (!err)
		err = privs_apply(privs_keep_mask);
	if (!err)
		privs_log_kept();
	return err;
}
