// SPDX-License-Identifier: MIT
/*
 * privs_drop in a process with extra threads (one blocking every
 * signal but PRIVS_SIGNAL, as notify.c's worker does): afterwards no
 * thread keeps CAP_SYS_MODULE, CAP_NET_ADMIN or CAP_SETPCAP, in its
 * effective or bounding set, and each still has CAP_BPF, as
 * /proc/self/task/TID/status shows. Needs root; skipped otherwise.
 */
#include <dirent.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <linux/capability.h>

#include "privs.h"

#define THREADS 3

static volatile int stop;

static void *idle(void *arg)
{
	sigset_t all;

	if (arg) {
		sigfillset(&all);
		sigdelset(&all, PRIVS_SIGNAL);
		pthread_sigmask(SIG_BLOCK, &all, NULL);
	}
	while (!stop)
		usleep(1000);
	return NULL;
}

/* The hex mask of "KEY:" in a thread's status. */
static uint64_t status_caps(const char *tid, const char *key)
{
	char path[96], line[256];
	unsigned long long v = 0;
	size_t n = strlen(key);
	FILE *f;

	if (tid)
		snprintf(path, sizeof(path), "/proc/self/task/%s/status", tid);
	else
		snprintf(path, sizeof(path), "/proc/thread-self/status");
	f = fopen(path, "r");
	assert_non_null(f);
	while (fgets(line, sizeof(line), f)) {
		if (!strncmp(line, key, n))
			sscanf(line + n, "%llx", &v);
	}
	fclose(f);
	return v;
}

static void check_thread(const char *tid)
{
	static const char *const keys[] = { "CapEff:", "CapBnd:",
					    "CapPrm:" };
	size_t i;

	for (i = 0; i < 3; i++) {
		uint64_t c = status_caps(tid, keys[i]);

		assert_false(c & (1ull << CAP_SYS_MODULE));
		assert_false(c & (1ull << CAP_NET_ADMIN));
		assert_false(c & (1ull << CAP_SETUID));
		assert_false(c & (1ull << CAP_SETPCAP));
		assert_true(c & (1ull << CAP_BPF));
	}
}

/* Checks every thread of the process; returns how many there are. */
static int check_all(void)
{
	struct dirent *e;
	int seen = 0;
	DIR *dir = opendir("/proc/self/task");

	assert_non_null(dir);
	while ((e = readdir(dir))) {
		if (e->d_name[0] == '.')
			continue;
		check_thread(e->d_name);
		seen++;
	}
	closedir(dir);
	return seen;
}

static void test_drop_every_thread(void **state)
{
	pthread_t th[THREADS];
	int i;

	if (geteuid() != 0 ||
	    !(status_caps(NULL, "CapEff:") & (1ull << CAP_NET_ADMIN)))
		skip();
	for (i = 0; i < THREADS; i++)
		assert_int_equal(pthread_create(&th[i], NULL, idle,
						i ? NULL : (void *)1), 0);

	assert_int_equal(privs_drop(), 0);

	assert_int_equal(check_all(), THREADS + 1);
	/* A thread started after the drop has the dropped sets too. */
	stop = 1;
	for (i = 0; i < THREADS; i++)
		pthread_join(th[i], NULL);
	stop = 0;
	assert_int_equal(pthread_create(&th[0], NULL, idle, NULL), 0);
	assert_int_equal(check_all(), 2);
	stop = 1;
	pthread_join(th[0], NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_drop_every_thread),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
