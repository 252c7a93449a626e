// SPDX-License-Identifier: MIT
/*
 * llmtap top: a live terminal view of a running daemon, read from its
 * HTTP API (hget.h) once a second and drawn with ncurses: calls, rate,
 * cost per hour, the top processes, models and users, recent errors.
 * It needs no privileges and no BPF: only the API's address.
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <curses.h>
#include <jansson.h>

#include "api.h"
#include "cli.h"
#include "hget.h"
#include "log.h"

#define TOP_REFRESH_MS 1000
#define TOP_TIMEOUT_MS 2000
#define TOP_PATH_MAX 256
#define TOP_ERR_MAX 160
#define TOP_NAME_W 34	/* a group's name column */
#define TOP_RECENT_CALLS 200	/* scanned for recent errors */
#define TOP_ERRORS_SHOWN 6
#define TOP_CELL 32

enum { TOP_PAIR_HEAD = 1, TOP_PAIR_BAD, TOP_PAIR_GOOD };

static const char *const top_windows[] = { "1m", "10m", "1h", "1d",
					   "total" };
#define TOP_NWINDOWS (sizeof(top_windows) / sizeof(top_windows[0]))

static volatile sig_atomic_t top_stop;

/* One refresh's answers; NULL where a query failed. */
struct top_view {
	json_t *total, *last_min, *last_hour;	/* by all */
	json_t *procs, *models, *users;	/* by KEY in the window */
	json_t *calls;	/* the store's newest calls */
	int calls_status;	/* 503: no store */
	char err[TOP_ERR_MAX];	/* the API cannot be reached */
};

struct top_args {
	const char *api;
	unsigned window;	/* index in top_windows */
};

static const char top_usage[] =
	"usage: llmtap top [--api ADDR:PORT] [--window W]\n"
	"\n"
	"A live view of a running 'llmtap run', from its HTTP API: calls\n"
	"per second, cost per hour, the top processes, models and users,\n"
	"and recent errors. Keys: q quits, w changes the window.\n"
	"\n"
	"      --api ADDR:PORT  the daemon's API (default " API_DEFAULT_LISTEN
	")\n"
	"      --window W       1m, 10m, 1h (default), 1d or total\n"
	"  -h, --help           this text\n";

static void top_on_signal(int sig)
{
	top_stop = 1;
}

/* ---- fetching ---- */

/* GET path as JSON; NULL with the reason in v->err (or a 4xx/5xx in
 * *status, when status is not NULL). */
static json_t *top_get(const char *api, const char *path,
		       struct top_view *v, int *status)
{
	struct hget_resp r;
	json_t *j;
	int err = hget(api, path, TOP_TIMEOUT_MS, &r);

	if (err) {
		snprintf(v->err, sizeof(v->err), "cannot reach %s: %s", api,
			 strerror(-err));
		return NULL;
	}
	if (status)
		*status = r.status;
	j = r.status == 200 ? json_loads(r.body, 0, NULL) : NULL;
	hget_resp_free(&r);
	return j;
}

/* The "groups" of /api/v1/metrics?by=BY&window=W. */
static json_t *top_groups(const char *api, const char *by, const char *w,
			  struct top_view *v)
{
	char path[TOP_PATH_MAX];
	json_t *j, *g;

	snprintf(path, sizeof(path), "/api/v1/metrics?by=%s&window=%s", by,
		 w);
	j = top_get(api, path, v, NULL);
	g = json_incref(json_object_get(j, "groups"));
	json_decref(j);
	return g;
}

static void top_view_free(struct top_view *v)
{
	json_decref(v->total);
	json_decref(v->last_min);
	json_decref(v->last_hour);
	json_decref(v->procs);
	json_decref(v->models);
	json_decref(v->users);
	json_decref(v->calls);
	memset(v, 0, sizeof(*v));
}

static void top_fetch(const struct top_args *a, struct top_view *v)
{
	const char *w = top_windows[a->window];
	char path[TOP_PATH_MAX];

	memset(v, 0, sizeof(*v));
	v->total = top_groups(a->api, "all", "total", v);
	if (v->err[0])
		return;	/* the daemon is gone: do not wait on each */
	v->last_min = top_groups(a->api, "all", "1m", v);
	v->last_hour = top_groups(a->api, "all", "1h", v);
	v->procs = top_groups(a->api, "process", w, v);
	v->models = top_groups(a->api, "model", w, v);
	v->users = top_groups(a->api, "user_id", w, v);
	snprintf(path, sizeof(path), "/api/v1/calls?limit=%d",
		 TOP_RECENT_CALLS);
	v->calls = top_get(a->api, path, v, &v->calls_status);
}

/* ---- numbers ---- */

static double top_num(const json_t *o, const char *key)
{
	return json_number_value(json_object_get(o, key));
}

/* A group's number; 0 for an empty window. */
static double top_first(const json_t *groups, const char *key)
{
	return top_num(json_array_get(groups, 0), key);
}

static const char *top_usd(double v, char *buf, size_t len)
{
	snprintf(buf, len, v < 0.01 && v > 0 ? "$%.6f" : "$%.4f", v);
	return buf;
}

static const char *top_ms(const json_t *lat, char *buf, size_t len)
{
	const json_t *p95 = json_object_get(lat, "p95");

	if (!json_is_number(p95))
		return "-";
	snprintf(buf, len, "%.0f ms", json_number_value(p95));
	return buf;
}

/* ---- drawing ---- */

static void top_heading(int y, const char *text)
{
	attron(A_BOLD | COLOR_PAIR(TOP_PAIR_HEAD));
	mvhline(y, 0, ' ', COLS);
	mvaddnstr(y, 0, text, COLS);
	attroff(A_BOLD | COLOR_PAIR(TOP_PAIR_HEAD));
}

static void top_summary(const struct top_args *a, const struct top_view *v)
{
	char c1[TOP_CELL], c2[TOP_CELL], c3[TOP_CELL], now[TOP_CELL];
	double calls = top_first(v->total, "requests");
	double errs = top_first(v->total, "errors");
	time_t t = time(NULL);
	struct tm tm;

	gmtime_r(&t, &tm);
	strftime(now, sizeof(now), "%H:%M:%S UTC", &tm);
	attron(A_BOLD);
	mvprintw(0, 0, "llmtap top  %s  window %s  (w: window, q: quit)",
		 a->api, top_windows[a->window]);
	attroff(A_BOLD);
	mvaddstr(0, COLS - (int)strlen(now) - 1, now);
	mvprintw(1, 0, "calls %.0f   %.2f/s (last 1m)   errors %.0f "
		 "(%.1f%%)   p95 %s", calls,
		 top_first(v->last_min, "requests") / 60.0, errs,
		 calls ? 100.0 * errs / calls : 0.0,
		 top_ms(json_object_get(json_array_get(v->total, 0),
					"latency_ms"), c3, sizeof(c3)));
	mvprintw(2, 0, "cost %s total   %s/hour (last 1h)",
		 top_usd(top_first(v->total, "cost_usd"), c1, sizeof(c1)),
		 top_usd(top_first(v->last_hour, "cost_usd"), c2,
			 sizeof(c2)));
}

static void top_group_row(int y, const json_t *g)
{
	const json_t *name = json_object_get(g, "group");
	char cost[TOP_CELL], p95[TOP_CELL];
	double req = top_num(g, "requests"), errs = top_num(g, "errors");

	mvprintw(y, 0, "%-*.*s %8.0f %7.0f %6.1f%% %12s %10s", TOP_NAME_W,
		 TOP_NAME_W, json_is_string(name) ? json_string_value(name)
						  : "(none)",
		 req, errs, req ? 100.0 * errs / req : 0.0,
		 top_usd(top_num(g, "cost_usd"), cost, sizeof(cost)),
		 top_ms(json_object_get(g, "latency_ms"), p95, sizeof(p95)));
}

/* A table of groups from line y, at most rows lines; the next line. */
static int top_groups_table(int y, int rows, const char *title,
			    const json_t *groups)
{
	char head[TOP_PATH_MAX];
	size_t i;

	snprintf(head, sizeof(head), "%-*s %8s %7s %7s %12s %10s",
		 TOP_NAME_W, title, "CALLS", "ERRORS", "ERR%", "COST",
		 "P95");
	top_heading(y++, head);
	for (i = 0; i < json_array_size(groups) && (int)i < rows; i++)
		top_group_row(y++, json_array_get(groups, i));
	if (!json_array_size(groups))
		mvaddstr(y++, 0, "  (no calls in this window)");
	return y + 1;
}

static int top_is_error(const json_t *c)
{
	const json_t *st = json_object_get(json_object_get(c, "http"),
					   "status");

	return json_is_object(json_object_get(c, "error")) ||
	       json_integer_value(st) >= 400;
}

static void top_error_row(int y, const json_t *c)
{
	const json_t *e = json_object_get(c, "error");
	const char *ts = json_string_value(json_object_get(c, "ts"));
	const char *what = json_string_value(json_object_get(e, "type"));
	const char *model = json_string_value(json_object_get(c, "model"));
	const char *comm = json_string_value(json_object_get(
		json_object_get(c, "process"), "comm"));

	attron(COLOR_PAIR(TOP_PAIR_BAD));
	mvprintw(y, 0, "%.19s  %-16.16s %-28.28s %4lld  %.*s",
		 ts ? ts : "", comm ? comm : "", model ? model : "",
		 (long long)json_integer_value(json_object_get(
			 json_object_get(c, "http"), "status")),
		 COLS > 76 ? COLS - 76 : 0, what ? what : "http error");
	attroff(COLOR_PAIR(TOP_PAIR_BAD));
}

static void top_errors(int y, const struct top_view *v)
{
	const json_t *calls = json_object_get(v->calls, "calls");
	size_t i;
	int shown = 0;

	top_heading(y++, "RECENT ERRORS");
	if (v->calls_status == 503) {
		mvaddstr(y, 0, "  (the daemon runs without a store)");
		return;
	}
	for (i = 0; i < json_array_size(calls) && shown < TOP_ERRORS_SHOWN &&
		    y < LINES; i++) {
		if (!top_is_error(json_array_get(calls, i)))
			continue;
		top_error_row(y++, json_array_get(calls, i));
		shown++;
	}
	if (!shown)
		mvaddstr(y, 0, "  (none among the last calls)");
}

static void top_draw(const struct top_args *a, const struct top_view *v)
{
	/* Three tables share what the summary and errors leave. */
	int rows = (LINES - 4 - (TOP_ERRORS_SHOWN + 1) - 6) / 3, y = 4;

	erase();
	top_summary(a, v);
	if (v->err[0]) {
		attron(A_BOLD | COLOR_PAIR(TOP_PAIR_BAD));
		mvprintw(1, 0, "%-*.*s", COLS, COLS, v->err);
		mvprintw(2, 0, "%-*s", COLS, "retrying every second");
		attroff(A_BOLD | COLOR_PAIR(TOP_PAIR_BAD));
		refresh();
		return;
	}
	if (rows < 1)
		rows = 1;
	y = top_groups_table(y, rows, "PROCESS", v->procs);
	y = top_groups_table(y, rows, "MODEL", v->models);
	y = top_groups_table(y, rows, "USER", v->users);
	top_errors(y, v);
	refresh();
}

/* ---- the loop ---- */

static void top_screen_init(void)
{
	initscr();
	cbreak();
	noecho();
	curs_set(0);
	keypad(stdscr, TRUE);
	timeout(TOP_REFRESH_MS);
	if (has_colors()) {
		start_color();
		use_default_colors();
		init_pair(TOP_PAIR_HEAD, COLOR_BLACK, COLOR_CYAN);
		init_pair(TOP_PAIR_BAD, COLOR_RED, -1);
		init_pair(TOP_PAIR_GOOD, COLOR_GREEN, -1);
	}
}

static void top_loop(struct top_args *a)
{
	while (!top_stop) {
		struct top_view v;
		int key;

		top_fetch(a, &v);
		top_draw(a, &v);
		top_view_free(&v);
		key = getch();	/* waits up to TOP_REFRESH_MS */
		if (key == 'q' || key == 'Q')
			break;
		if (key == 'w')
			a->window = (a->window + 1) % TOP_NWINDOWS;
	}
}

static int top_window_of(const char *w)
{
	for (unsigned i = 0; i < TOP_NWINDOWS; i++)
		if (!strcmp(w, top_windows[i]))
			return (int)i;
	return -1;
}

/* 0 to run, 1 after --help, -1 on a bad option (logged). */
static int top_parse(int argc, char **argv, struct top_args *a)
{
	static const struct option opts[] = {
		{ "api", required_argument, NULL, 'a' },
		{ "window", required_argument, NULL, 'w' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	int opt, w;

	a->api = API_DEFAULT_LISTEN;
	a->window = 2;	/* 1h */
	while ((opt = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		if (opt == 'a') {
			a->api = optarg;
		} else if (opt == 'w' && (w = top_window_of(optarg)) >= 0) {
			a->window = (unsigned)w;
		} else if (opt == 'h') {
			fputs(top_usage, stdout);
			return 1;
		} else {
			log_err("%s; see 'llmtap top --help'", opt == 'w' ?
				"--window is 1m, 10m, 1h, 1d or total" :
				"bad option");
			return -1;
		}
	}
	return 0;
}

/* Before the screen takes over: a clear message, not an empty view. */
static int top_check_api(const char *api)
{
	struct hget_resp r;
	int err = hget(api, "/healthz", TOP_TIMEOUT_MS, &r);

	if (!err && r.status == 200) {
		hget_resp_free(&r);
		return 0;
	}
	if (err == -EINVAL)
		log_err("--api wants IPV4:PORT, such as %s, not '%s'",
			API_DEFAULT_LISTEN, api);
	else
		log_err("cannot reach the llmtap API at %s: %s; is 'llmtap "
			"run' running, and listening there (--listen)?", api,
			err ? strerror(-err) : "not an llmtap API");
	hget_resp_free(&r);
	return -1;
}

int cmd_top(int argc, char **argv)
{
	struct sigaction sa = { .sa_handler = top_on_signal };
	struct top_args a;
	int rc = top_parse(argc, argv, &a);

	if (rc)
		return rc > 0 ? 0 : 2;
	if (top_check_api(a.api))
		return 1;

	/* No SA_RESTART: a signal ends the wait for a key at once. */
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	top_screen_init();
	top_loop(&a);
	endwin();
	return 0;
}
