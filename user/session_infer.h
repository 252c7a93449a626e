/* SPDX-License-Identifier: MIT */
/*
 * Session inference for calls that declare no Helicone-Session-Id.
 *
 * A chat API is stateless, so an agent resends its whole conversation
 * on every turn. Within one process, a call whose message list starts
 * with the full message list of an earlier call (same pid, seen in the
 * last SESSION_INFER_TTL_NS) continues that call's conversation and
 * joins its session. Any other call starts a new session.
 *
 * Messages are read from the request body: OpenAI chat "messages",
 * Anthropic "system" + "messages", Gemini "systemInstruction" +
 * "contents", OpenAI responses "input" when it is an array. Each
 * message counts by its role and its content as canonical JSON, so
 * keys a client adds or drops around them do not matter.
 */
#ifndef LLMTAP_SESSION_INFER_H
#define LLMTAP_SESSION_INFER_H

#include <stddef.h>
#include <stdint.h>

#include "jview.h"

/* Conversations remembered, across all processes; the least recently
 * used is forgotten first. */
#define SESSION_INFER_MAX_ENTRIES 4096
/* A conversation idle this long no longer takes new calls. */
#define SESSION_INFER_TTL_NS (3600ull * 1000000000ull)
/* Bodies with more messages than this are not followed. */
#define SESSION_INFER_MAX_MSGS 100000
/* "inf-" + 16 hex digits + NUL. */
#define SESSION_INFER_ID_LEN 21

struct session_infer;

struct session_infer *session_infer_new(void);
void session_infer_free(struct session_infer *si);

/*
 * The session of a call made by pid at ts_ns with this request body.
 * Writes the id to id and returns 0; -ENOENT when the body holds no
 * message list (embeddings, a body that is not JSON); -ENOMEM.
 *
 * The id of a new session is derived from pid and its first call's
 * messages, not drawn at random, so a replay of a recording names the
 * sessions as the live daemon did.
 */
int session_infer_assign(struct session_infer *si, uint32_t pid,
			 uint64_t ts_ns, const char *body, size_t len,
			 char id[SESSION_INFER_ID_LEN]);

/* The same with the body already read: value req of v. */
int session_infer_assign_view(struct session_infer *si, uint32_t pid,
			      uint64_t ts_ns, const struct jview *v, int req,
			      char id[SESSION_INFER_ID_LEN]);

#endif /* LLMTAP_SESSION_INFER_H */
