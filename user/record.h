/* SPDX-License-Identifier: MIT */
/*
 * The recording format: capture events as JSON lines. `record` writes
 * it, `replay` reads it back into the same pipeline `run` uses.
 */
#ifndef LLMTAP_RECORD_H
#define LLMTAP_RECORD_H

#include <stdint.h>
#include <stdio.h>

#include "event.h"

#define RECORD_FORMAT_VERSION 1

/* A replayed line longer than this is reported and skipped. */
#define RECORD_LINE_MAX (64u << 20)

struct recorder;

/* path "-" is stdout. NULL with a logged reason on error. */
struct recorder *recorder_open(const char *path);
struct ev_sink recorder_sink(struct recorder *r);
uint64_t recorder_lines(const struct recorder *r);
/* Returns 0, or a negative errno if any write failed. */
int recorder_close(struct recorder *r);

struct replay_stats {
	uint64_t lines;
	uint64_t events;
	uint64_t bad_lines;
};

/* Feeds every event in the file to sink, in file order. Returns 0, or
 * a negative errno when the file cannot be read; bad lines are logged
 * with their number, counted and skipped. */
int replay_file(const char *path, const struct ev_sink *sink,
		struct replay_stats *st);

#endif /* LLMTAP_RECORD_H */
