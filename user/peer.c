// SPDX-License-Identifier: MIT
#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "peer.h"

/* The socket inode behind /proc/PID/fd/FD, or 0. */
static unsigned long socket_inode(pid_t pid, int fd)
{
	char path[64], target[64];
	unsigned long ino = 0;
	ssize_t n;

	snprintf(path, sizeof(path), "/proc/%d/fd/%d", pid, fd);
	n = readlink(path, target, sizeof(target) - 1);
	if (n <= 0)
		return 0;
	target[n] = '\0';
	if (sscanf(target, "socket:[%lu]", &ino) != 1)
		return 0;
	return ino;
}

/* /proc/net/tcp prints addresses as the kernel's 32-bit words in hex,
 * each in host byte order. */
static int format_addr(const char *hex, unsigned port, char *out,
		       size_t len)
{
	char text[INET6_ADDRSTRLEN];
	uint32_t words[4];
	size_t nwords = strlen(hex) / 8;

	if (nwords != 1 && nwords != 4)
		return -EINVAL;
	for (size_t i = 0; i < nwords; i++) {
		char word[9];

		memcpy(word, hex + i * 8, 8);
		word[8] = '\0';
		words[i] = (uint32_t)strtoul(word, NULL, 16);
	}
	if (nwords == 1) {
		inet_ntop(AF_INET, words, text, sizeof(text));
		snprintf(out, len, "%s:%u", text, port);
	} else {
		inet_ntop(AF_INET6, words, text, sizeof(text));
		snprintf(out, len, "[%s]:%u", text, port);
	}
	return 0;
}

static int find_in_table(const char *table, unsigned long ino, char *out,
			 size_t len)
{
	char line[512], rem[40];
	unsigned port;
	unsigned long lino;
	int err = -ENOENT;
	FILE *f = fopen(table, "re");

	if (!f)
		return -errno;
	while (fgets(line, sizeof(line), f)) {
		if (sscanf(line, "%*d: %*64[0-9A-Fa-f]:%*x %39[0-9A-Fa-f]:%x "
			   "%*x %*x:%*x %*x:%*x %*x %*u %*d %lu",
			   rem, &port, &lino) != 3)
			continue;
		if (lino == ino) {
			err = format_addr(rem, port, out, len);
			break;
		}
	}
	fclose(f);
	return err;
}

int peer_of_fd(pid_t pid, int fd, char *out, size_t len)
{
	unsigned long ino = socket_inode(pid, fd);
	char table[64];

	if (!ino)
		return -ENOTSOCK;
	snprintf(table, sizeof(table), "/proc/%d/net/tcp", pid);
	if (find_in_table(table, ino, out, len) == 0)
		return 0;
	snprintf(table, sizeof(table), "/proc/%d/net/tcp6", pid);
	return find_in_table(table, ino, out, len);
}
