// SPDX-License-Identifier: MIT
/* One HTTP/1.1 GET over a socket (see hget.h). */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "hget.h"

#define HGET_HOST_MAX 64
#define HGET_REQ_MAX (3 * 4096)	/* the path and a bearer token */
#define HGET_READ_CHUNK 65536

/* The value of header name in head (not NUL-terminated), or NULL. */
static const char *hget_header(const char *head, size_t len,
			       const char *name)
{
	size_t n = strlen(name);
	const char *p = head, *end = head + len;

	while (p < end) {
		const char *eol = memchr(p, '\n', (size_t)(end - p));

		if (!eol)
			break;
		if ((size_t)(eol - p) > n && p[n] == ':' &&
		    !strncasecmp(p, name, n))
			return p + n + 1;
		p = eol + 1;
	}
	return NULL;
}

static int hget_status(const char *buf, size_t len)
{
	int status = 0;

	/* "HTTP/1.x NNN": the code is always at bytes 9 to 11. */
	if (len < 12 || strncmp(buf, "HTTP/1.", 7) || buf[8] != ' ')
		return -EPROTO;
	for (int i = 9; i < 12; i++) {
		if (buf[i] < '0' || buf[i] > '9')
			return -EPROTO;
		status = status * 10 + (buf[i] - '0');
	}
	return status;
}

int hget_parse(const char *buf, size_t len, struct hget_resp *r)
{
	const char *sep = memmem(buf, len, "\r\n\r\n", 4), *cl;
	size_t head_len, clen;
	char *end;

	memset(r, 0, sizeof(*r));
	if (!sep)
		return -EAGAIN;
	r->status = hget_status(buf, len);
	if (r->status < 0)
		return -EPROTO;
	head_len = (size_t)(sep - buf) + 4;
	if (hget_header(buf, head_len, "Transfer-Encoding"))
		return -EPROTO;
	cl = hget_header(buf, head_len, "Content-Length");
	if (!cl)
		return -EPROTO;
	errno = 0;
	clen = strtoull(cl, &end, 10);
	if (errno || end == cl || (*end != '\r' && *end != '\n'))
		return -EPROTO;
	if (len - head_len < clen)
		return -EAGAIN;
	r->body = malloc(clen + 1);
	if (!r->body)
		return -ENOMEM;
	memcpy(r->body, sep + 4, clen);
	r->body[clen] = '\0';
	r->body_len = clen;
	return 0;
}

static int hget_connect(const char *addr, int timeout_ms)
{
	struct timeval tv = { timeout_ms / 1000, timeout_ms % 1000 * 1000 };
	struct sockaddr_in sa = { .sin_family = AF_INET };
	const char *colon = strrchr(addr, ':');
	char host[HGET_HOST_MAX];
	int fd, port;

	if (!colon || (size_t)(colon - addr) >= sizeof(host))
		return -EINVAL;
	snprintf(host, sizeof(host), "%.*s", (int)(colon - addr), addr);
	port = atoi(colon + 1);
	if (port <= 0 || port > 65535 ||
	    inet_pton(AF_INET, host, &sa.sin_addr) != 1)
		return -EINVAL;
	sa.sin_port = htons((uint16_t)port);
	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	/* Both timeouts bound connect, send and each recv too. */
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa))) {
		int err = -errno;

		close(fd);
		return err;
	}
	return fd;
}

static int hget_send(int fd, const char *addr, const char *path)
{
	const char *token = getenv(HGET_TOKEN_ENV);
	char req[HGET_REQ_MAX];
	int n = snprintf(req, sizeof(req),
			 "GET %s HTTP/1.1\r\nHost: %s\r\n%s%s%s"
			 "Connection: close\r\n\r\n", path, addr,
			 token ? "Authorization: Bearer " : "",
			 token ? token : "", token ? "\r\n" : "");
	int off = 0;

	if (n < 0 || (size_t)n >= sizeof(req))
		return -E2BIG;
	while (off < n) {
		ssize_t w = send(fd, req + off, (size_t)(n - off),
				 MSG_NOSIGNAL);

		if (w < 0)
			return -errno;
		off += (int)w;
	}
	return 0;
}

/* Reads until the server closes: the whole answer in *out. */
static int hget_read_all(int fd, char **out, size_t *len)
{
	size_t cap = 0;
	char *buf = NULL;

	*len = 0;
	for (;;) {
		ssize_t n;

		if (cap - *len < HGET_READ_CHUNK) {
			char *nb;

			cap += HGET_READ_CHUNK;
			if (cap > HGET_MAX_BYTES + HGET_READ_CHUNK) {
				free(buf);
				return -EFBIG;
			}
			nb = realloc(buf, cap);
			if (!nb) {
				free(buf);
				return -ENOMEM;
			}
			buf = nb;
		}
		n = recv(fd, buf + *len, cap - *len, 0);
		if (n < 0) {
			int err = errno == EAGAIN ? -ETIMEDOUT : -errno;

			free(buf);
			return err;
		}
		if (!n)
			break;
		*len += (size_t)n;
	}
	*out = buf;
	return 0;
}

int hget(const char *addr, const char *path, int timeout_ms,
	 struct hget_resp *r)
{
	int fd = hget_connect(addr, timeout_ms), err;
	char *buf = NULL;
	size_t len = 0;

	memset(r, 0, sizeof(*r));
	if (fd < 0)
		return fd;
	err = hget_send(fd, addr, path);
	if (!err)
		err = hget_read_all(fd, &buf, &len);
	close(fd);
	if (!err) {
		err = hget_parse(buf, len, r);
		if (err == -EAGAIN)
			err = -EPROTO;	/* closed before the end */
	}
	free(buf);
	return err;
}

void hget_resp_free(struct hget_resp *r)
{
	if (!r)
		return;
	free(r->body);
	r->body = NULL;
}
