/* SPDX-License-Identifier: MIT */
/*
 * Where functions are in an ELF file: the file offsets uprobes are
 * placed at, from the dynamic and static symbol tables, and the return
 * instructions of a function (Go code gets no uretprobes).
 */
#ifndef LLMTAP_ELFSYM_H
#define LLMTAP_ELFSYM_H

#include <stddef.h>

/* Function names looked up in one pass over a file's symbols. */
struct elfsym_query {
	const char *const *names;
	size_t n;
	size_t *offsets;	/* out: file offset, 0 when not defined */
	size_t *sizes;	/* out: st_size, may be NULL */
};

/* 0, or a negative errno when path is not a readable ELF file. */
int elfsym_lookup(const char *path, struct elfsym_query *q);

/* A Go program without a symbol table: stripped (go build -ldflags=-s
 * or strip), so crypto/tls cannot be found by name. 1, 0, or a
 * negative errno. */
int elfsym_is_stripped_go(const char *path);

/* File offsets of the x86-64 RET instructions in the function at
 * [offset, offset + size). Returns how many were found (at most max),
 * or a negative errno. */
int elfsym_find_rets(const char *path, size_t offset, size_t size,
		     size_t *out, int max);

#endif /* LLMTAP_ELFSYM_H */
