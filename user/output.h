/* SPDX-License-Identifier: MIT */
/*
 * A line-oriented writer for JSON records: to stdout, or to a file
 * that is rotated by size (FILE, FILE.1 ... FILE.N, FILE.1 newest).
 * Each line goes out whole in one write (with others, when held) so
 * readers never see half of one.
 */
#ifndef LLMTAP_OUTPUT_H
#define LLMTAP_OUTPUT_H

#include <stddef.h>
#include <stdint.h>

struct output;

/* path NULL or "-" is stdout. rotate_bytes 0 never rotates; keep is
 * how many old files stay (0: the file is just started over). The file
 * is created mode 0600, as it may hold prompts. NULL, errno set and a
 * logged reason on error. */
struct output *output_open(const char *path, size_t rotate_bytes,
			   int keep);
void output_close(struct output *o);

/* Writes line (without its newline) and a newline. 0 or -errno. */
int output_write_line(struct output *o, const char *line, size_t len);

/* From now on, gathers whole lines up to bytes before each write (a
 * replay, which nobody reads as it goes, need not make a syscall a
 * line). Flushed when full, before rotating and at close. Without
 * memory for it, lines go out one by one as before. */
void output_hold(struct output *o, size_t bytes);
/* Writes what is held. 0 or -errno. */
int output_flush(struct output *o);

uint64_t output_lines(const struct output *o);
uint64_t output_rotations(const struct output *o);

#endif /* LLMTAP_OUTPUT_H */
