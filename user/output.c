// SPDX-License-Identifier: MIT
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"
#include "output.h"

/* Old files kept at most, so names stay short and rotation quick. */
#define OUTPUT_KEEP_MAX 1000
/* Lines up to this size go out in one write from a stack buffer. */
#define OUTPUT_STACK_LINE 4096

struct output {
	char *path;	/* NULL for stdout */
	int fd;
	size_t size;	/* bytes in the current file */
	size_t rotate_bytes;
	int keep;
	uint64_t lines;
	uint64_t rotations;
	char *held;	/* lines gathered for one write; NULL: none */
	size_t held_len;
	size_t held_cap;
};

static int output_reopen(struct output *o)
{
	struct stat st;

	o->fd = open(o->path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC,
		     0600);
	if (o->fd < 0) {
		log_err("output %s: %s", o->path, strerror(errno));
		return -errno;
	}
	o->size = fstat(o->fd, &st) == 0 ? (size_t)st.st_size : 0;
	return 0;
}

struct output *output_open(const char *path, size_t rotate_bytes,
			   int keep)
{
	struct output *o = calloc(1, sizeof(*o));

	if (!o)
		return NULL;
	o->fd = STDOUT_FILENO;
	o->rotate_bytes = rotate_bytes;
	o->keep = keep < 0 ? 0 : keep > OUTPUT_KEEP_MAX ? OUTPUT_KEEP_MAX :
							  keep;
	if (!path || strcmp(path, "-") == 0)
		return o;
	o->path = strdup(path);
	if (!o->path || output_reopen(o)) {
		free(o->path);
		free(o);
		return NULL;
	}
	return o;
}

void output_close(struct output *o)
{
	if (!o)
		return;
	if (output_flush(o))
		log_warn("output %s: lines lost at close",
			 o->path ? o->path : "stdout");
	free(o->held);
	if (o->path && o->fd >= 0)
		close(o->fd);
	free(o->path);
	free(o);
}

uint64_t output_lines(const struct output *o)
{
	return o ? o->lines : 0;
}

uint64_t output_rotations(const struct output *o)
{
	return o ? o->rotations : 0;
}

static void output_name(char *buf, size_t len, const char *path, int n)
{
	if (n == 0)
		snprintf(buf, len, "%s", path);
	else
		snprintf(buf, len, "%s.%d", path, n);
}

/* FILE.(N-1) -> FILE.N ... FILE -> FILE.1, the oldest falls off. */
static int output_rotate(struct output *o)
{
	char from[PATH_MAX], to[PATH_MAX];
	int err = output_flush(o);

	if (err)
		return err;
	close(o->fd);
	o->fd = -1;
	for (int i = o->keep; i > 0; i--) {
		output_name(from, sizeof(from), o->path, i - 1);
		output_name(to, sizeof(to), o->path, i);
		if (rename(from, to) && errno != ENOENT)
			log_warn("output: rename %s: %s", from,
				 strerror(errno));
	}
	if (o->keep == 0 && truncate(o->path, 0) && errno != ENOENT)
		log_warn("output: truncate %s: %s", o->path, strerror(errno));
	o->rotations++;
	return output_reopen(o);
}

static int output_write_all(int fd, const char *buf, size_t len)
{
	ssize_t w;

	while (len) {
		w = write(fd, buf, len);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return -errno;
		buf += w;
		len -= (size_t)w;
	}
	return 0;
}

void output_hold(struct output *o, size_t bytes)
{
	if (o->held || !bytes)
		return;
	o->held = malloc(bytes);
	o->held_cap = o->held ? bytes : 0;
}

int output_flush(struct output *o)
{
	int err;

	if (!o->held_len)
		return 0;
	if (o->fd < 0 && output_reopen(o))
		return -EIO;
	err = output_write_all(o->fd, o->held, o->held_len);
	o->held_len = 0;
	return err;
}

/* Adds the line to what is held; false when it does not fit even in
 * an empty buffer. */
static bool output_gather(struct output *o, const char *line, size_t len,
			  int *err)
{
	*err = 0;
	if (len + 1 > o->held_cap)
		return false;
	if (o->held_len + len + 1 > o->held_cap)
		*err = output_flush(o);
	memcpy(o->held + o->held_len, line, len);
	o->held[o->held_len + len] = '\n';
	o->held_len += len + 1;
	return true;
}

static int output_emit(struct output *o, const char *line, size_t len)
{
	char stack[OUTPUT_STACK_LINE];
	char *buf;
	int err;

	if (o->held && output_gather(o, line, len, &err))
		return err;
	err = output_flush(o);	/* lines stay in order */
	if (err)
		return err;
	buf = len + 1 <= sizeof(stack) ? stack : malloc(len + 1);
	if (!buf)
		return -ENOMEM;
	memcpy(buf, line, len);
	buf[len] = '\n';
	err = output_write_all(o->fd, buf, len + 1);
	if (buf != stack)
		free(buf);
	return err;
}

int output_write_line(struct output *o, const char *line, size_t len)
{
	int err;

	if (o->path && o->rotate_bytes && o->size > 0 &&
	    o->size + len + 1 > o->rotate_bytes) {
		err = output_rotate(o);
		if (err)
			return err;
	}
	if (o->fd < 0 && output_reopen(o))
		return -EIO;
	err = output_emit(o, line, len);
	if (err)
		return err;
	o->size += len + 1;
	o->lines++;
	return 0;
}
