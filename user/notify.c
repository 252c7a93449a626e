// SPDX-License-Identifier: MIT
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <math.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>

#include "log.h"
#include "notify.h"
#include "privs.h"

#define NT_LINE_LEN 1024
#define NT_VALUE_LEN 64
#define NT_DATE_LEN 64
/* How often a running exec notifier is looked at. */
#define NT_WAIT_STEP_MS 20
/* Drops are logged the first time and then every this many. */
#define NT_DROP_LOG_EVERY 100
#define NT_USER_AGENT "llmtap"

/* A message ready to go: everything copied out of the alert and the
 * notifier, so a reload may free them meanwhile. */
struct nt_item {
	enum config_notifier_type type;
	char *name;
	char *url;	/* http(s) for slack/webhook, smtp(s) for email */
	char *body;	/* what is posted, mailed or piped */
	char *from;
	struct curl_slist *rcpt;
	char *command;
	unsigned timeout_s;
	int tries;
	uint64_t next_ms;	/* monotonic; due when passed */
};

struct notify {
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	struct nt_item *queue[NOTIFY_QUEUE_MAX];	/* oldest first */
	size_t n;
	bool stop;
	/* stop, also read without the lock by a command being waited on */
	int quitting;
	struct notify_stats stats;
};

static uint64_t nt_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void nt_item_free(struct nt_item *it)
{
	if (!it)
		return;
	free(it->name);
	free(it->url);
	free(it->body);
	free(it->from);
	curl_slist_free_all(it->rcpt);
	free(it->command);
	free(it);
}

/* --- message texts -------------------------------------------------- */

static const char *nt_str(const json_t *alert, const char *key)
{
	const char *s = json_string_value(json_object_get(alert, key));

	return s ? s : "";
}

/* Control characters (a user id is the client's to choose) would let
 * a value break a mail header or a line: they become spaces. */
static void nt_clean(char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < ' ' || *s == 0x7f)
			*s = ' ';
}

static void nt_value(const json_t *alert, char *buf, size_t len)
{
	const json_t *v = json_object_get(alert, "value");
	const char *unit = nt_str(alert, "unit");
	double d = json_number_value(v);

	if (!json_is_number(v))
		snprintf(buf, len, "no data");
	else if (!strcmp(unit, "%"))
		snprintf(buf, len, "%.1f%%", d);
	else if (!strcmp(unit, "USD"))
		snprintf(buf, len, "$%.6g", d);
	else if (!strcmp(unit, "ms"))
		snprintf(buf, len, "%.0f ms", d);
	else
		snprintf(buf, len, "%.0f", d);
}

/* "user_id=bob" for a grouped alert, "" otherwise. */
static void nt_group(const json_t *alert, char *buf, size_t len)
{
	const json_t *g = json_object_get(alert, "group");
	const char *key;
	json_t *v;

	buf[0] = '\0';
	json_object_foreach((json_t *)g, key, v)
		snprintf(buf, len, "%s=%s", key,
			 json_is_string(v) ? json_string_value(v) : "(none)");
}

char *notify_text(const json_t *alert)
{
	char value[NT_VALUE_LEN], group[NT_LINE_LEN / 2], *out = NULL;
	const char *state = nt_str(alert, "state");

	nt_value(alert, value, sizeof(value));
	nt_group(alert, group, sizeof(group));
	if (asprintf(&out, "[%s] %s %s: %s %s (threshold %s over %s, %"
		     JSON_INTEGER_FORMAT " requests)%s%s",
		     nt_str(alert, "severity"),
		     !strcmp(state, "resolved") ? "RESOLVED" : "FIRING",
		     nt_str(alert, "rule"), nt_str(alert, "metric"), value,
		     nt_str(alert, "threshold"), nt_str(alert, "window"),
		     json_integer_value(json_object_get(alert, "requests")),
		     group[0] ? " for " : "", group) < 0)
		return NULL;
	nt_clean(out);
	return out;
}

/* "alice (3 req, $0.01), bob (1 req, $0)" for one top list. */
static void nt_top_line(const json_t *alert, const char *list,
			const char *key, char *buf, size_t len)
{
	const json_t *arr = json_object_get(alert, list), *e;
	size_t i, n = 0;

	buf[0] = '\0';
	json_array_foreach(arr, i, e) {
		const char *name = json_string_value(json_object_get(e, key));

		n += (size_t)snprintf(buf + n, n < len ? len - n : 0,
				      "%s%s (%" JSON_INTEGER_FORMAT
				      " req, %" JSON_INTEGER_FORMAT
				      " err, $%.6g)", i ? ", " : "",
				      name ? name : "(none)",
				      json_integer_value(json_object_get(
					      e, "requests")),
				      json_integer_value(json_object_get(
					      e, "errors")),
				      json_number_value(json_object_get(
					      e, "cost_usd")));
		if (n >= len)
			break;
	}
	if (!buf[0])
		snprintf(buf, len, "-");
	nt_clean(buf);
}

/* Slack reads &, < and > as markup in text. */
static char *nt_slack_escape(const char *s)
{
	size_t n = strlen(s), i, k = 0;
	char *out = malloc(n * 5 + 1);

	if (!out)
		return NULL;
	for (i = 0; i < n; i++) {
		const char *rep = s[i] == '&' ? "&amp;" : s[i] == '<' ?
				  "&lt;" : s[i] == '>' ? "&gt;" : NULL;

		if (rep) {
			memcpy(out + k, rep, strlen(rep));
			k += strlen(rep);
		} else {
			out[k++] = s[i];
		}
	}
	out[k] = '\0';
	return out;
}

/* The details as "*Label*: value" lines, for Slack and mail alike. */
static char *nt_details(const json_t *alert, bool slack)
{
	char users[NT_LINE_LEN], models[NT_LINE_LEN], procs[NT_LINE_LEN];
	char *out = NULL;
	const char *b = slack ? "*" : "";

	nt_top_line(alert, "top_users", "user_id", users, sizeof(users));
	nt_top_line(alert, "top_models", "model", models, sizeof(models));
	nt_top_line(alert, "top_processes", "process", procs, sizeof(procs));
	if (asprintf(&out, "%sTop users%s: %s\n%sTop models%s: %s\n"
		     "%sTop processes%s: %s\n%sCalls%s: %s\n%sSince%s: %s",
		     b, b, users, b, b, models, b, b, procs, b, b,
		     nt_str(alert, "query"), b, b,
		     nt_str(alert, "firing_since")) < 0)
		return NULL;
	return out;
}

char *notify_slack_payload(const struct config_notifier *nf,
			   const json_t *alert)
{
	char *text = notify_text(alert), *details = nt_details(alert, true);
	char *etext = text ? nt_slack_escape(text) : NULL;
	char *edetails = details ? nt_slack_escape(details) : NULL;
	json_t *p = NULL;
	char *out = NULL;

	if (etext && edetails)
		p = json_pack("{s:s, s:[{s:s, s:{s:s, s:s}}, {s:s, s:{s:s, "
			      "s:s}}]}", "text", text, "blocks",
			      "type", "section", "text", "type", "mrkdwn",
			      "text", etext, "type", "section", "text",
			      "type", "mrkdwn", "text", edetails);
	if (p && nf->channel)
		json_object_set_new(p, "channel", json_string(nf->channel));
	if (p)
		out = json_dumps(p, JSON_COMPACT);
	json_decref(p);
	free(text);
	free(details);
	free(etext);
	free(edetails);
	return out;
}

char *notify_email(const struct config_notifier *nf, const json_t *alert)
{
	char *text = notify_text(alert), *details = nt_details(alert, false);
	char date[NT_DATE_LEN], *to = NULL, *out = NULL;
	time_t now = time(NULL);
	struct tm tm;
	size_t i;

	gmtime_r(&now, &tm);
	strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S +0000", &tm);
	for (i = 0; i < nf->n_to; i++) {
		char *prev = to;

		if (asprintf(&to, "%s%s%s", prev ? prev : "", prev ? ", " : "",
			     nf->to[i]) < 0)
			to = NULL;
		free(prev);
	}
	if (text && details && to &&
	    asprintf(&out, "Date: %s\r\nFrom: %s\r\nTo: %s\r\n"
		     "Subject: [llmtap] %s\r\nMIME-Version: 1.0\r\n"
		     "Content-Type: text/plain; charset=utf-8\r\n\r\n"
		     "%s\r\n\r\n%s\r\n", date, nf->from, to, text, text,
		     details) < 0)
		out = NULL;
	free(text);
	free(details);
	free(to);
	return out;
}

/* --- building queue items ------------------------------------------- */

static char *nt_body(const struct config_notifier *nf, const json_t *alert)
{
	switch (nf->type) {
	case CONFIG_SLACK:
		return notify_slack_payload(nf, alert);
	case CONFIG_EMAIL:
		return notify_email(nf, alert);
	default:
		return json_dumps(alert, JSON_COMPACT);
	}
}

/* SMTP's angle-bracketed addresses. */
static struct curl_slist *nt_rcpt(const struct config_notifier *nf)
{
	struct curl_slist *l = NULL, *n;
	char addr[NT_LINE_LEN];
	size_t i;

	for (i = 0; i < nf->n_to; i++) {
		snprintf(addr, sizeof(addr), "<%s>", nf->to[i]);
		n = curl_slist_append(l, addr);
		if (!n) {
			curl_slist_free_all(l);
			return NULL;
		}
		l = n;
	}
	return l;
}

static char *nt_dup(const char *s)
{
	return s ? strdup(s) : NULL;
}

static struct nt_item *nt_item_new(const struct config_notifier *nf,
				   const json_t *alert)
{
	struct nt_item *it = calloc(1, sizeof(*it));
	bool mail = nf->type == CONFIG_EMAIL;
	char from[NT_LINE_LEN];

	if (!it)
		return NULL;
	it->type = nf->type;
	it->name = nt_dup(nf->name);
	it->url = nt_dup(mail ? nf->smtp_url : nf->url);
	it->body = nt_body(nf, alert);
	it->command = nt_dup(nf->command);
	it->timeout_s = nf->timeout_s;
	if (mail) {
		snprintf(from, sizeof(from), "<%s>", nf->from);
		it->from = strdup(from);
		it->rcpt = nt_rcpt(nf);
	}
	if (!it->name || !it->body || (mail && (!it->from || !it->rcpt))) {
		nt_item_free(it);
		return NULL;
	}
	return it;
}

/* --- the queue ------------------------------------------------------ */

/* Under the lock. A full queue loses its oldest message. */
static void nt_push(struct notify *n, struct nt_item *it)
{
	if (n->n == NOTIFY_QUEUE_MAX) {
		if (n->stats.dropped++ % NT_DROP_LOG_EVERY == 0)
			log_warn("notify: queue full, dropped the oldest "
				 "message for %s (%" PRIu64 " dropped so far)",
				 n->queue[0]->name, n->stats.dropped);
		nt_item_free(n->queue[0]);
		memmove(n->queue, n->queue + 1,
			(n->n - 1) * sizeof(n->queue[0]));
		n->n--;
	}
	n->queue[n->n++] = it;
	pthread_cond_signal(&n->cond);
}

int notify_send(struct notify *n, const struct config_notifier *nf,
		const json_t *alert)
{
	struct nt_item *it;

	if (!n)
		return 0;
	it = nt_item_new(nf, alert);
	if (!it) {
		log_warn("notify: out of memory building a message for %s",
			 nf->name);
		return -ENOMEM;
	}
	pthread_mutex_lock(&n->lock);
	n->stats.queued++;
	nt_push(n, it);
	pthread_mutex_unlock(&n->lock);
	return 0;
}

/* Under the lock: removes and returns the item due first if it is due
 * by now; else NULL and, in *wait_ms, how long until one is (or
 * UINT64_MAX for an empty queue). */
static struct nt_item *nt_take_due(struct notify *n, uint64_t now,
				   uint64_t *wait_ms)
{
	struct nt_item *it;
	size_t i, best = 0;

	*wait_ms = UINT64_MAX;
	if (!n->n)
		return NULL;
	for (i = 1; i < n->n; i++)
		if (n->queue[i]->next_ms < n->queue[best]->next_ms)
			best = i;
	it = n->queue[best];
	if (it->next_ms > now) {
		*wait_ms = it->next_ms - now;
		return NULL;
	}
	memmove(n->queue + best, n->queue + best + 1,
		(n->n - best - 1) * sizeof(n->queue[0]));
	n->n--;
	return it;
}

/* --- delivery ------------------------------------------------------- */

static size_t nt_discard(char *p, size_t size, size_t nmemb, void *ctx)
{
	return size * nmemb;
}

struct nt_reader {
	const char *p;
	size_t left;
};

static size_t nt_read(char *buf, size_t size, size_t nmemb, void *ctx)
{
	struct nt_reader *r = ctx;
	size_t n = size * nmemb < r->left ? size * nmemb : r->left;

	memcpy(buf, r->p, n);
	r->p += n;
	r->left -= n;
	return n;
}

/* Ends a transfer when the daemon stops, not at its timeout. */
static int nt_progress(void *ctx, curl_off_t dt, curl_off_t dn,
		       curl_off_t ut, curl_off_t un)
{
	struct notify *n = ctx;

	return __atomic_load_n(&n->quitting, __ATOMIC_RELAXED);
}

static void nt_curl_common(CURL *h, struct notify *n,
			   const struct nt_item *it)
{
	curl_easy_setopt(h, CURLOPT_NOPROGRESS, 0L);
	curl_easy_setopt(h, CURLOPT_XFERINFOFUNCTION, nt_progress);
	curl_easy_setopt(h, CURLOPT_XFERINFODATA, n);
	curl_easy_setopt(h, CURLOPT_URL, it->url);
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT,
			 (long)NOTIFY_CONNECT_TIMEOUT_S);
	curl_easy_setopt(h, CURLOPT_TIMEOUT, (long)NOTIFY_TIMEOUT_S);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, nt_discard);
	curl_easy_setopt(h, CURLOPT_USERAGENT, NT_USER_AGENT);
}

static int nt_http(CURL *h, const struct nt_item *it,
		   struct curl_slist **hdrs)
{
	*hdrs = curl_slist_append(NULL, "Content-Type: application/json");
	if (!*hdrs)
		return -ENOMEM;
	curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, *hdrs);
	curl_easy_setopt(h, CURLOPT_POSTFIELDS, it->body);
	curl_easy_setopt(h, CURLOPT_FAILONERROR, 1L);
	return 0;
}

static void nt_smtp(CURL *h, const struct nt_item *it,
		    struct nt_reader *rd)
{
	rd->p = it->body;
	rd->left = strlen(it->body);
	curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "smtp,smtps");
	curl_easy_setopt(h, CURLOPT_MAIL_FROM, it->from);
	curl_easy_setopt(h, CURLOPT_MAIL_RCPT, it->rcpt);
	curl_easy_setopt(h, CURLOPT_READFUNCTION, nt_read);
	curl_easy_setopt(h, CURLOPT_READDATA, rd);
	curl_easy_setopt(h, CURLOPT_UPLOAD, 1L);
	curl_easy_setopt(h, CURLOPT_INFILESIZE_LARGE,
			 (curl_off_t)rd->left);
}

/* 0, or -EIO with the reason in err. */
static int nt_curl(struct notify *n, const struct nt_item *it, char *err,
		   size_t len)
{
	char ebuf[CURL_ERROR_SIZE] = "";
	struct curl_slist *hdrs = NULL;
	struct nt_reader rd;
	CURL *h = curl_easy_init();
	CURLcode rc;

	if (!h) {
		snprintf(err, len, "cannot start libcurl");
		return -EIO;
	}
	nt_curl_common(h, n, it);
	curl_easy_setopt(h, CURLOPT_ERRORBUFFER, ebuf);
	if (it->type == CONFIG_EMAIL)
		nt_smtp(h, it, &rd);
	else if (nt_http(h, it, &hdrs)) {
		curl_easy_cleanup(h);
		snprintf(err, len, "out of memory");
		return -EIO;
	}
	rc = curl_easy_perform(h);
	if (rc != CURLE_OK)
		snprintf(err, len, "%s", ebuf[0] ? ebuf :
					 curl_easy_strerror(rc));
	curl_easy_cleanup(h);
	curl_slist_free_all(hdrs);
	return rc == CURLE_OK ? 0 : -EIO;
}

/* In the child, before exec: only async-signal-safe calls. */
static void nt_child(int in_fd, const char *command)
{
	sigset_t none;
	struct sigaction dfl = { .sa_handler = SIG_DFL };

	setpgid(0, 0);
	dup2(in_fd, STDIN_FILENO);
	/* stdout may be the calls output: the command's goes to the log. */
	dup2(STDERR_FILENO, STDOUT_FILENO);
	close_range(STDERR_FILENO + 1, ~0u, 0);
	sigemptyset(&none);
	sigaction(SIGPIPE, &dfl, NULL);
	sigprocmask(SIG_SETMASK, &none, NULL);
	execl("/bin/sh", "sh", "-c", command, (char *)NULL);
	_exit(127);
}

/* Writes body to fd until done or the deadline; the command may not
 * read it all, which is its business. */
static void nt_feed(int fd, const char *body, uint64_t deadline)
{
	size_t left = strlen(body);
	struct pollfd p = { .fd = fd, .events = POLLOUT };

	fcntl(fd, F_SETFL, O_NONBLOCK);
	while (left) {
		uint64_t now = nt_now_ms();
		ssize_t w;

		if (now >= deadline ||
		    poll(&p, 1, (int)(deadline - now)) <= 0)
			return;
		w = write(fd, body, left);
		if (w < 0 && errno != EAGAIN && errno != EINTR)
			return;
		if (w > 0) {
			body += w;
			left -= (size_t)w;
		}
	}
}

/* Waits for pid until the deadline or shutdown, then kills its
 * process group. The exit status, or -1 when killed. */
static int nt_reap(struct notify *n, pid_t pid, uint64_t deadline)
{
	struct timespec step = { 0, NT_WAIT_STEP_MS * 1000000L };
	int status;

	while (nt_now_ms() < deadline &&
	       !__atomic_load_n(&n->quitting, __ATOMIC_RELAXED)) {
		pid_t r = waitpid(pid, &status, WNOHANG);

		if (r == pid)
			return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
		if (r < 0 && errno != EINTR)
			return -1;
		nanosleep(&step, NULL);
	}
	kill(-pid, SIGKILL);
	waitpid(pid, &status, 0);
	return -1;
}

static int nt_exec(struct notify *n, const struct nt_item *it, char *err,
		   size_t len)
{
	uint64_t deadline = nt_now_ms() + it->timeout_s * 1000ull;
	int fds[2], st;
	pid_t pid;

	if (pipe2(fds, O_CLOEXEC)) {
		snprintf(err, len, "pipe: %s", strerror(errno));
		return -EIO;
	}
	pid = fork();
	if (pid == 0)
		nt_child(fds[0], it->command);
	close(fds[0]);
	if (pid < 0) {
		close(fds[1]);
		snprintf(err, len, "fork: %s", strerror(errno));
		return -EIO;
	}
	nt_feed(fds[1], it->body, deadline);
	close(fds[1]);
	st = nt_reap(n, pid, deadline);
	if (st == 0)
		return 0;
	if (st < 0)
		snprintf(err, len, "killed after %us, or died by a signal",
			 it->timeout_s);
	else
		snprintf(err, len, "exited with status %d", st);
	return -EIO;
}

static int nt_deliver(struct notify *n, const struct nt_item *it,
		      char *err, size_t len)
{
	if (it->type == CONFIG_EXEC)
		return nt_exec(n, it, err, len);
	return nt_curl(n, it, err, len);
}

/* --- the worker ----------------------------------------------------- */

/* Under the lock: after a failed attempt, again later or never. */
static void nt_retry(struct notify *n, struct nt_item *it,
		     const char *err)
{
	if (it->tries >= NOTIFY_TRIES) {
		n->stats.failed++;
		log_warn("notify: giving up on %s after %d tries: %s",
			 it->name, it->tries, err);
		nt_item_free(it);
		return;
	}
	log_debug("notify: %s failed (try %d): %s", it->name, it->tries,
		  err);
	n->stats.retries++;
	it->next_ms = nt_now_ms() +
		      ((uint64_t)NOTIFY_BACKOFF_FIRST_MS << (it->tries - 1));
	nt_push(n, it);
}

static void nt_wait(struct notify *n, uint64_t wait_ms)
{
	struct timespec ts;
	uint64_t ns;

	if (wait_ms == UINT64_MAX) {
		pthread_cond_wait(&n->cond, &n->lock);
		return;
	}
	clock_gettime(CLOCK_MONOTONIC, &ts);
	ns = (uint64_t)ts.tv_nsec + wait_ms % 1000 * 1000000;
	ts.tv_sec += (time_t)(wait_ms / 1000 + ns / 1000000000);
	ts.tv_nsec = (long)(ns % 1000000000);
	pthread_cond_timedwait(&n->cond, &n->lock, &ts);
}

static void *nt_worker(void *arg)
{
	struct notify *n = arg;
	char err[CURL_ERROR_SIZE + 64];
	sigset_t all;

	/* Signals are the capture thread's to handle, but for the one
	 * that has this thread drop its capabilities too: it forks the
	 * exec notifiers. */
	sigfillset(&all);
	sigdelset(&all, PRIVS_SIGNAL);
	pthread_sigmask(SIG_BLOCK, &all, NULL);
	pthread_mutex_lock(&n->lock);
	while (!n->stop) {
		uint64_t wait_ms;
		struct nt_item *it = nt_take_due(n, nt_now_ms(), &wait_ms);
		int rc;

		if (!it) {
			nt_wait(n, wait_ms);
			continue;
		}
		pthread_mutex_unlock(&n->lock);
		it->tries++;
		err[0] = '\0';
		rc = nt_deliver(n, it, err, sizeof(err));
		pthread_mutex_lock(&n->lock);
		if (rc) {
			nt_retry(n, it, err);
			continue;
		}
		n->stats.sent++;
		log_debug("notify: sent to %s", it->name);
		nt_item_free(it);
	}
	pthread_mutex_unlock(&n->lock);
	return NULL;
}

struct notify *notify_new(void)
{
	struct notify *n = calloc(1, sizeof(*n));
	pthread_condattr_t ca;
	int err;

	if (!n) {
		log_err("notify: out of memory");
		return NULL;
	}
	curl_global_init(CURL_GLOBAL_DEFAULT);
	pthread_mutex_init(&n->lock, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&n->cond, &ca);
	pthread_condattr_destroy(&ca);
	err = pthread_create(&n->thread, NULL, nt_worker, n);
	if (err) {
		log_err("notify: cannot start the delivery thread: %s",
			strerror(err));
		pthread_cond_destroy(&n->cond);
		pthread_mutex_destroy(&n->lock);
		free(n);
		return NULL;
	}
	return n;
}

void notify_free(struct notify *n)
{
	size_t i;

	if (!n)
		return;
	pthread_mutex_lock(&n->lock);
	n->stop = true;
	__atomic_store_n(&n->quitting, 1, __ATOMIC_RELAXED);
	pthread_cond_signal(&n->cond);
	pthread_mutex_unlock(&n->lock);
	pthread_join(n->thread, NULL);
	if (n->n)
		log_warn("notify: %zu messages not delivered at exit", n->n);
	for (i = 0; i < n->n; i++)
		nt_item_free(n->queue[i]);
	pthread_cond_destroy(&n->cond);
	pthread_mutex_destroy(&n->lock);
	free(n);
}

void notify_stats(struct notify *n, struct notify_stats *out)
{
	memset(out, 0, sizeof(*out));
	if (!n)
		return;
	pthread_mutex_lock(&n->lock);
	*out = n->stats;
	pthread_mutex_unlock(&n->lock);
}
