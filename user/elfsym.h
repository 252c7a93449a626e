/* SPDX-License-Identifier: MIT */
/*
 * Where functions are in an ELF file: the file offsets uprobes are
 * placed at, from the dynamic and static symbol tables, and the return
 * instructions of a function (Go code gets no uretprobes).
 */
#ifndef LLMTAP_ELFSYM_H
#define LLMTAP_ELFSYM_H

#include <stdbool.h>
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

/*
 * The function a thin wrapper hands its arguments to: when the code at
 * offset only moves the stack pointer (endbr64, sub/push) and then
 * makes a direct call, the call's target, if that target starts with
 * an instruction the kernel emulates for uprobes (a push). Returns its
 * file offset, or 0 when the wrapper is not that simple. A uprobe there
 * needs no single-step, which is what makes most probes slow.
 */
size_t elfsym_wrapper_target(const char *path, size_t offset);

/* Whether the code in [offset, offset + len) makes a direct call to
 * the file offset target. */
bool elfsym_calls(const char *path, size_t offset, size_t len,
		  size_t target);

#endif /* LLMTAP_ELFSYM_H */
