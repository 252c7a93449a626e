// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * Quota enforcement: a process, user or cgroup over its LLM budget may
 * not open new connections to LLM endpoints. A cgroup connect hook on
 * the root cgroup sees every connect() on the host; only connections
 * to a known endpoint from a blocked party are refused (EPERM).
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#include "llmtap.h"

char LICENSE[] SEC("license") = "Dual MIT/GPL";

#define AF_INET 2
#define AF_INET6 10

/* cgroup/connect programs: 1 lets the connect go on, 0 refuses it. */
#define CONNECT_ALLOW 1
#define CONNECT_DENY 0

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, LT_QUOTA_ENDPOINTS_MAX);
	__type(key, struct lt_endpoint);
	__type(value, __u8);
} endpoints SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, LT_QUOTA_BLOCKED_MAX);
	__type(key, struct lt_blocked);
	__type(value, __u8);
} blocked SEC(".maps");

/* Connections refused, for the log and /metrics. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} denied SEC(".maps");

static __always_inline bool is_blocked(void)
{
	struct lt_blocked k = { .scope = LT_BLOCK_UID };

	k.uid = (__u32)bpf_get_current_uid_gid();
	if (bpf_map_lookup_elem(&blocked, &k))
		return true;

	k.uid = 0;
	k.scope = LT_BLOCK_CGROUP;
	k.cgroup = bpf_get_current_cgroup_id();
	if (bpf_map_lookup_elem(&blocked, &k))
		return true;

	k.cgroup = 0;
	k.scope = LT_BLOCK_COMM;
	bpf_get_current_comm(k.comm, sizeof(k.comm));
	return bpf_map_lookup_elem(&blocked, &k) != NULL;
}

static __always_inline int decide(struct lt_endpoint *ep)
{
	__u32 zero = 0;
	__u64 *n;

	if (!bpf_map_lookup_elem(&endpoints, ep) || !is_blocked())
		return CONNECT_ALLOW;
	n = bpf_map_lookup_elem(&denied, &zero);
	if (n)
		*n += 1;
	return CONNECT_DENY;
}

SEC("cgroup/connect4")
int connect4(struct bpf_sock_addr *ctx)
{
	struct lt_endpoint ep = { .family = AF_INET };
	__u32 ip = ctx->user_ip4;

	ep.port = bpf_ntohs((__u16)ctx->user_port);
	__builtin_memcpy(ep.addr, &ip, sizeof(ip));
	return decide(&ep);
}

SEC("cgroup/connect6")
int connect6(struct bpf_sock_addr *ctx)
{
	struct lt_endpoint ep = { .family = AF_INET6 };
	__u32 ip[4];

	ip[0] = ctx->user_ip6[0];
	ip[1] = ctx->user_ip6[1];
	ip[2] = ctx->user_ip6[2];
	ip[3] = ctx->user_ip6[3];
	ep.port = bpf_ntohs((__u16)ctx->user_port);
	__builtin_memcpy(ep.addr, ip, sizeof(ip));
	return decide(&ep);
}
