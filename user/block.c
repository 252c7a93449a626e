// SPDX-License-Identifier: MIT
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <mntent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "block.h"
#include "log.h"
#include "quota.skel.h"

struct blocker {
	struct quota_bpf *skel;
	int cgroup_fd;
	int ncpus;
};

/* Where the cgroup v2 hierarchy is mounted, or NULL. */
static char *cgroup2_root(void)
{
	struct mntent *m;
	char *root = NULL;
	FILE *f = setmntent("/proc/self/mounts", "re");

	if (!f)
		return NULL;
	while (!root && (m = getmntent(f))) {
		if (strcmp(m->mnt_type, "cgroup2") == 0)
			root = strdup(m->mnt_dir);
	}
	endmntent(f);
	return root;
}

static struct blocker *blocker_fail(struct blocker *b, const char *why)
{
	log_warn("quota blocking off (%s): quotas over budget only alert",
		 why);
	blocker_close(b);
	return NULL;
}

static int attach_hooks(struct blocker *b)
{
	struct quota_bpf *s = b->skel;

	s->links.connect4 = bpf_program__attach_cgroup(s->progs.connect4,
						       b->cgroup_fd);
	s->links.connect6 = bpf_program__attach_cgroup(s->progs.connect6,
						       b->cgroup_fd);
	return s->links.connect4 && s->links.connect6 ? 0 : -errno;
}

struct blocker *blocker_open(void)
{
	struct blocker *b = calloc(1, sizeof(*b));
	char *root = cgroup2_root();

	if (!b) {
		free(root);
		return NULL;
	}
	b->cgroup_fd = -1;
	b->ncpus = libbpf_num_possible_cpus();
	if (!root)
		return blocker_fail(b, "no cgroup v2 hierarchy mounted");
	b->cgroup_fd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	free(root);
	if (b->cgroup_fd < 0)
		return blocker_fail(b, strerror(errno));

	/* Load, then hook the root cgroup: every connect on the host. */
	b->skel = quota_bpf__open_and_load();
	if (!b->skel)
		return blocker_fail(b, "the BPF program did not load");
	if (attach_hooks(b))
		return blocker_fail(b, "cgroup connect hooks refused");
	log_info("quota blocking on: over-budget parties cannot connect "
		 "to LLM endpoints");
	return b;
}

void blocker_close(struct blocker *b)
{
	if (!b)
		return;
	quota_bpf__destroy(b->skel);
	if (b->cgroup_fd >= 0)
		close(b->cgroup_fd);
	free(b);
}

/* "1.2.3.4:443" or "[::1]:443" into an endpoint key. */
static int parse_peer(const char *peer, struct lt_endpoint *ep)
{
	char addr[64];
	const char *colon = strrchr(peer, ':');
	size_t len;

	if (!colon || colon == peer)
		return -EINVAL;
	len = (size_t)(colon - peer);
	if (peer[0] == '[' && len >= 2 && peer[len - 1] == ']') {
		peer++;
		len -= 2;
	}
	if (len >= sizeof(addr))
		return -EINVAL;
	memcpy(addr, peer, len);
	addr[len] = '\0';
	memset(ep, 0, sizeof(*ep));
	ep->port = (uint16_t)atoi(colon + 1);
	if (inet_pton(AF_INET, addr, ep->addr) == 1)
		ep->family = AF_INET;
	else if (inet_pton(AF_INET6, addr, ep->addr) == 1)
		ep->family = AF_INET6;
	return ep->family && ep->port ? 0 : -EINVAL;
}

int blocker_add_endpoint(struct blocker *b, const char *peer)
{
	struct lt_endpoint ep;
	uint8_t one = 1;

	if (!b || !peer || parse_peer(peer, &ep))
		return -EINVAL;
	if (bpf_map_update_elem(bpf_map__fd(b->skel->maps.endpoints), &ep,
				&one, BPF_ANY))
		return -errno;
	return 0;
}

int blocker_set(struct blocker *b, const struct lt_blocked *who, bool on)
{
	int fd;
	uint8_t one = 1;

	if (!b)
		return -EINVAL;
	fd = bpf_map__fd(b->skel->maps.blocked);
	if (on)
		return bpf_map_update_elem(fd, who, &one, BPF_ANY) ? -errno : 0;
	if (bpf_map_delete_elem(fd, who) && errno != ENOENT)
		return -errno;
	return 0;
}

uint64_t blocker_cgroup_of(int pid)
{
	char path[64], line[4096], full[4200];
	char *root = cgroup2_root();
	uint64_t id = 0;
	struct stat st;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/cgroup", pid);
	f = fopen(path, "re");
	while (root && f && fgets(line, sizeof(line), f)) {
		if (strncmp(line, "0::", 3) != 0)
			continue;
		line[strcspn(line, "\n")] = '\0';
		snprintf(full, sizeof(full), "%s%s", root, line + 3);
		if (stat(full, &st) == 0)
			id = st.st_ino;
	}
	if (f)
		fclose(f);
	free(root);
	return id;
}

uint64_t blocker_denied(struct blocker *b)
{
	uint64_t *percpu, total = 0;
	__u32 zero = 0;

	if (!b)
		return 0;
	percpu = calloc(b->ncpus, sizeof(*percpu));
	if (percpu && !bpf_map_lookup_elem(bpf_map__fd(b->skel->maps.denied),
					   &zero, percpu)) {
		for (int i = 0; i < b->ncpus; i++)
			total += percpu[i];
	}
	free(percpu);
	return total;
}
