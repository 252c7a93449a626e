// SPDX-License-Identifier: MIT
#include <errno.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "exchange.h"

struct http_exchange *exchange_new(void)
{
	return calloc(1, sizeof(struct http_exchange));
}

void exchange_free(struct http_exchange *ex)
{
	if (!ex)
		return;
	free(ex->method);
	free(ex->path);
	free(ex->authority);
	hdr_list_clear(&ex->req_headers);
	hdr_list_clear(&ex->resp_headers);
	body_clear(&ex->req_body);
	body_clear(&ex->resp_body);
	free(ex);
}

static int grow(void **v, size_t *cap, size_t need, size_t elem)
{
	size_t ncap = *cap ? *cap : 8;
	void *nv;

	if (need <= *cap)
		return 0;
	while (ncap < need)
		ncap *= 2;
	nv = realloc(*v, ncap * elem);
	if (!nv)
		return -ENOMEM;
	*v = nv;
	*cap = ncap;
	return 0;
}

/* Name and value share one allocation; a value set later has its
 * own, told apart by where it lies. */
static bool hdr_value_apart(const struct hdr *h)
{
	return h->value != h->name + strlen(h->name) + 1;
}

int hdr_list_add(struct hdr_list *l, const char *name, size_t nlen,
		 const char *value, size_t vlen)
{
	struct hdr *h;
	char *both;

	if (grow((void **)&l->v, &l->cap, l->n + 1, sizeof(*l->v)))
		return -ENOMEM;
	both = malloc(nlen + vlen + 2);
	if (!both)
		return -ENOMEM;
	h = &l->v[l->n];
	h->name = both;
	memcpy(h->name, name, nlen);
	h->name[nlen] = '\0';
	/* A NUL inside the name must not move the value's start. */
	nlen = strlen(h->name);
	h->value = h->name + nlen + 1;
	memcpy(h->value, value, vlen);
	h->value[vlen] = '\0';
	l->n++;
	return 0;
}

int hdr_set_value(struct hdr *h, const char *value, size_t vlen)
{
	char *v = strndup(value, vlen);

	if (!v)
		return -ENOMEM;
	if (hdr_value_apart(h))
		free(h->value);
	h->value = v;
	return 0;
}

const char *hdr_list_get(const struct hdr_list *l, const char *name)
{
	for (size_t i = 0; i < l->n; i++) {
		if (strcasecmp(l->v[i].name, name) == 0)
			return l->v[i].value;
	}
	return NULL;
}

void hdr_list_clear(struct hdr_list *l)
{
	for (size_t i = 0; i < l->n; i++) {
		if (hdr_value_apart(&l->v[i]))
			free(l->v[i].value);
		free(l->v[i].name);
	}
	free(l->v);
	memset(l, 0, sizeof(*l));
}

static int body_add_seg(struct body *b, size_t len, uint64_t ts_ns)
{
	struct body_seg *last = b->nsegs ? &b->segs[b->nsegs - 1] : NULL;

	/* Bytes of one arrival often come in several appends. */
	if (last && last->ts_ns == ts_ns && last->off + last->len == b->len) {
		last->len += len;
		return 0;
	}
	if (grow((void **)&b->segs, &b->segcap, b->nsegs + 1,
		 sizeof(*b->segs)))
		return -ENOMEM;
	b->segs[b->nsegs++] = (struct body_seg){ ts_ns, b->len, len };
	return 0;
}

/* Process-wide: bodies are only touched on the pipeline's thread,
 * but the counts are read from others. */
static _Atomic size_t bodies_held;
static _Atomic uint64_t bodies_cut;
static _Atomic size_t bodies_budget = EXCHANGE_BODIES_BUDGET;

void exchange_set_bodies_budget(size_t bytes)
{
	atomic_store(&bodies_budget, bytes);
}

uint64_t exchange_bodies_cut(void)
{
	return atomic_load(&bodies_cut);
}

size_t exchange_bodies_held(void)
{
	return atomic_load(&bodies_held);
}

/* Room for need bytes in b->data, within the process-wide budget:
 * doubling when the budget allows, else just enough, else none. */
static int body_room(struct body *b, size_t need)
{
	size_t ncap = b->cap ? b->cap : 64;
	uint8_t *nd;

	if (need <= b->cap)
		return 0;
	while (ncap < need)
		ncap *= 2;
	if (atomic_load(&bodies_held) + (ncap - b->budgeted) >
	    atomic_load(&bodies_budget))
		ncap = need;
	if (atomic_load(&bodies_held) + (ncap - b->budgeted) >
	    atomic_load(&bodies_budget))
		return -ENOSPC;
	nd = realloc(b->data, ncap);
	if (!nd)
		return -ENOMEM;
	atomic_fetch_add(&bodies_held, ncap - b->budgeted);
	b->budgeted = ncap;
	b->data = nd;
	b->cap = ncap;
	return 0;
}

/* A body the budget stops is cut where it stands, once counted. */
static void body_cut_for_budget(struct body *b)
{
	b->truncated = true;
	if (!b->over_budget)
		atomic_fetch_add(&bodies_cut, 1);
	b->over_budget = true;
}

int body_append(struct body *b, const uint8_t *data, size_t len,
		uint64_t ts_ns)
{
	size_t room = EXCHANGE_BODY_LIMIT - b->len;
	size_t take = len < room ? len : room;
	int err;

	if (take < len)
		b->truncated = true;
	if (take == 0 || b->over_budget)
		return 0;
	err = body_room(b, b->len + take + 1);
	if (err == -ENOSPC) {
		body_cut_for_budget(b);
		return 0;
	}
	if (err)
		return err;
	if (body_add_seg(b, take, ts_ns))
		return -ENOMEM;
	memcpy(b->data + b->len, data, take);
	b->len += take;
	b->data[b->len] = '\0';
	return 0;
}

void body_clear(struct body *b)
{
	atomic_fetch_sub(&bodies_held, b->budgeted);
	free(b->data);
	free(b->segs);
	memset(b, 0, sizeof(*b));
}
