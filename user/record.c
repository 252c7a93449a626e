// SPDX-License-Identifier: MIT
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>
#include <openssl/evp.h>

#include "log.h"
#include "record.h"

struct recorder {
	FILE *out;
	bool is_stdout;
	uint64_t lines;
	int err;
};

static void conn_id_str(const struct ev_conn_id *id, char *out, size_t len)
{
	snprintf(out, len, "%" PRIu32 ":%" PRIx64, id->pid, id->ssl);
}

static json_t *task_json(const char *type, const struct ev_task *t)
{
	return json_pack("{s:s, s:I, s:I, s:I, s:I, s:s}", "type", type,
			 "ts", (json_int_t)t->ts_ns, "pid", (json_int_t)t->pid,
			 "tid", (json_int_t)t->tid, "uid", (json_int_t)t->uid,
			 "comm", t->comm);
}

static void write_line(struct recorder *r, json_t *obj)
{
	if (!obj) {
		r->err = -ENOMEM;
		return;
	}
	if (json_dumpf(obj, r->out, JSON_COMPACT) || fputc('\n', r->out) < 0)
		r->err = -EIO;
	else
		r->lines++;
	json_decref(obj);
}

static json_t *base64_json(const uint8_t *data, size_t len)
{
	char *b64 = malloc(4 * ((len + 2) / 3) + 1);
	json_t *s;

	if (!b64)
		return NULL;
	EVP_EncodeBlock((unsigned char *)b64, data, (int)len);
	s = json_string(b64);
	free(b64);
	return s;
}

static void rec_data(void *ctx, const struct ev_data *ev)
{
	struct recorder *r = ctx;
	json_t *o = task_json("data", &ev->task);
	char conn[48];

	conn_id_str(&ev->conn, conn, sizeof(conn));
	json_object_set_new(o, "conn", json_string(conn));
	json_object_set_new(o, "dir", json_string(ev->dir == EV_DIR_READ ?
						      "read" : "write"));
	json_object_set_new(o, "len", json_integer(ev->call_len));
	json_object_set_new(o, "offset", json_integer(ev->offset));
	json_object_set_new(o, "data", base64_json(ev->data, ev->len));
	json_object_set_new(o, "truncated", json_boolean(ev->truncated));
	write_line(r, o);
}

static const char *conn_op_name(enum ev_conn_op op)
{
	switch (op) {
	case EV_CONN_SNI:
		return "sni";
	case EV_CONN_FD:
		return "fd";
	case EV_CONN_CLOSE:
		return "close";
	}
	return "unknown";
}

static void rec_conn(void *ctx, const struct ev_conn *ev)
{
	struct recorder *r = ctx;
	json_t *o = task_json("conn", &ev->task);
	char conn[48];

	conn_id_str(&ev->conn, conn, sizeof(conn));
	json_object_set_new(o, "conn", json_string(conn));
	json_object_set_new(o, "op", json_string(conn_op_name(ev->op)));
	if (ev->op == EV_CONN_SNI)
		json_object_set_new(o, "host", json_string(ev->host));
	if (ev->op == EV_CONN_FD) {
		json_object_set_new(o, "fd", json_integer(ev->fd));
		json_object_set_new(o, "peer", json_string(ev->peer));
	}
	write_line(r, o);
}

static void rec_proc(void *ctx, const struct ev_proc *ev)
{
	struct recorder *r = ctx;
	bool exec = ev->op == EV_PROC_EXEC;
	json_t *o = task_json("proc", &ev->task);

	json_object_set_new(o, "op", json_string(exec ? "exec" : "exit"));
	if (exec) {
		json_object_set_new(o, "ppid", json_integer(ev->ppid));
		json_object_set_new(o, "exe", json_string(ev->exe));
	} else {
		json_object_set_new(o, "exit_code", json_integer(ev->exit_code));
	}
	write_line(r, o);
}

static void rec_loss(void *ctx, const struct ev_loss *ev)
{
	struct recorder *r = ctx;

	write_line(r, json_pack("{s:s, s:I, s:I, s:I, s:I, s:I, s:I}",
				"type", "loss", "ts", (json_int_t)ev->ts_ns,
				"ringbuf_drops", (json_int_t)ev->rb_drops,
				"ringbuf_drop_bytes",
				(json_int_t)ev->rb_drop_bytes,
				"truncated_calls", (json_int_t)ev->trunc_calls,
				"truncated_bytes", (json_int_t)ev->trunc_bytes,
				"read_failures", (json_int_t)ev->read_fails));
	/* Losses matter even if the recorder is killed right after. */
	fflush(r->out);
}

/* A recording holds (scrubbed) plaintext of other users' traffic:
 * only its owner may read it. */
static FILE *open_private(const char *path)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	FILE *f;

	if (fd < 0)
		return NULL;
	f = fdopen(fd, "w");
	if (!f)
		close(fd);
	return f;
}

struct recorder *recorder_open(const char *path)
{
	struct recorder *r = calloc(1, sizeof(*r));

	if (!r)
		return NULL;
	r->is_stdout = strcmp(path, "-") == 0;
	r->out = r->is_stdout ? stdout : open_private(path);
	if (!r->out) {
		log_err("open %s: %s", path, strerror(errno));
		free(r);
		return NULL;
	}
	write_line(r, json_pack("{s:s, s:i}", "type", "recording",
				"version", RECORD_FORMAT_VERSION));
	return r;
}

struct ev_sink recorder_sink(struct recorder *r)
{
	return (struct ev_sink){
		.ctx = r,
		.on_data = rec_data,
		.on_conn = rec_conn,
		.on_proc = rec_proc,
		.on_loss = rec_loss,
	};
}

uint64_t recorder_lines(const struct recorder *r)
{
	return r->lines;
}

int recorder_close(struct recorder *r)
{
	int err;

	if (!r)
		return 0;
	err = r->err;
	if (fflush(r->out))
		err = -errno;
	if (!r->is_stdout && fclose(r->out))
		err = -errno;
	free(r);
	return err;
}
