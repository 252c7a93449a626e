// SPDX-License-Identifier: MIT
/*
 * llmtap run and llmtap replay: capture events (live or recorded)
 * through HTTP reassembly and the provider parsers to one JSON line
 * per LLM call. Both build the same stack, so a recording exercises
 * exactly what the daemon runs.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "alert_run.h"
#include "api.h"
#include "calls.h"
#include "capture.h"
#include "cli.h"
#include "config.h"
#include "exchange.h"
#include "log.h"
#include "metrics.h"
#include "otlp.h"
#include "pipeline.h"
#include "privs.h"
#include "prom.h"
#include "quota_run.h"
#include "record.h"
#include "store.h"

/* The store's defaults for run: a month of calls, at most 1 GiB. */
#define RUN_RETAIN_DAYS 30
#define RUN_DB_MAX_MB 1024
#define RUN_SECONDS_PER_DAY 86400ull
#define RUN_BYTES_PER_MB (1ull << 20)
#define RUN_NS_PER_S 1000000000ull
/* A replay's output goes out in writes of up to this much. */
#define REPLAY_OUT_HOLD (256u << 10)
/*
 * --max-conns at most: an idle HTTP/1.1 connection costs the pipeline
 * about 3 KiB (10,000 of them, tests/e2e/test_faults.py), so a cap
 * past 16 Mi connections (some 48 GiB) would bound nothing.
 */
#define RUN_CONNS_LIMIT (1ull << 24)
#define RUN_STR(x) #x
#define RUN_XSTR(x) RUN_STR(x)

static const char run_usage[] =
	"usage: llmtap run [options]\n"
	"\n"
	"The daemon: watches every process's TLS traffic and writes one\n"
	"JSON line per LLM API call (see README.md, 'Output').\n"
	"\n"
	"  -o, --output FILE       where to write calls (default stdout)\n"
	"      --rotate-bytes N    start FILE.1 when FILE reaches N bytes\n"
	"      --rotate-keep N     rotated files kept (default 5)\n"
	"      --pricing FILE      prices that override the shipped table\n"
	"      --bodies            add request and response bodies\n"
	"      --body-limit N      cut each body at N bytes\n"
	"      --db FILE           store calls in this SQLite file (default\n"
	"                          " STORE_DEFAULT_PATH ")\n"
	"      --no-db             store nothing\n"
	"      --retain-days N     delete calls older than N days (default\n"
	"                          30; 0 keeps them)\n"
	"      --db-max-mb N       delete the oldest calls past N MiB\n"
	"                          (default 1024; 0: no limit)\n"
	"      --listen ADDR:PORT  serve the HTTP API and Prometheus\n"
	"                          metrics here (default "
	API_DEFAULT_LISTEN ")\n"
	"      --no-api            no HTTP API\n"
	"      --api-token FILE    the API wants 'Authorization: Bearer\n"
	"                          TOKEN', TOKEN the file's first line\n"
	"                          (or $LLMTAP_API_TOKEN); required to\n"
	"                          --listen beyond loopback\n"
	"      --config FILE       alert rules, notifiers and quotas\n"
	"                          (default " CONFIG_DEFAULT_PATH ",\n"
	"                          if it exists); SIGHUP reloads alerts\n"
	"      --quota SPEC        a quota, e.g. name=q,scope=uid,\n"
	"                          metric=requests,limit=100,window=1h,\n"
	"                          action=block (repeatable)\n"
	"      --otlp URL          also send each call as an OpenTelemetry\n"
	"                          span (OTLP/HTTP JSON), e.g.\n"
	"                          http://127.0.0.1:4318/v1/traces\n"
	"      --otlp-header K:V   a header for every OTLP request, e.g.\n"
	"                          'Authorization:Bearer T' (repeatable)\n"
	"      --max-conns N       connections followed at once (default\n"
	"                          " RUN_XSTR(PIPELINE_CONNS_MAX)
	"); past N the least recently used\n"
	"                          one is dropped, and counted\n"
	CLI_CAPTURE_USAGE;

static const char replay_usage[] =
	"usage: llmtap replay [options] FILE\n"
	"\n"
	"Feeds a recording made by 'llmtap record' ('-' for stdin) through\n"
	"the pipeline 'llmtap run' uses, and writes the calls it finds.\n"
	"\n"
	"  -o, --output FILE       where to write calls (default stdout)\n"
	"      --pricing FILE      prices that override the shipped table\n"
	"      --bodies            add request and response bodies\n"
	"      --body-limit N      cut each body at N bytes\n"
	"      --db FILE           also store the calls in this SQLite file\n"
	"      --config FILE       evaluate its alert rules on the\n"
	"                          recording's clock: alert lines in the\n"
	"                          output, no notifier called\n"
	"  -v, --verbose           debug logging\n"
	"  -h, --help              this text\n";

enum {
	OPT_ROTATE_BYTES = 256,
	OPT_ROTATE_KEEP,
	OPT_PRICING,
	OPT_BODIES,
	OPT_BODY_LIMIT,
	OPT_DB,
	OPT_NO_DB,
	OPT_RETAIN_DAYS,
	OPT_DB_MAX_MB,
	OPT_LISTEN,
	OPT_NO_API,
	OPT_API_TOKEN,
	OPT_CONFIG,
	OPT_OTLP,
	OPT_OTLP_HEADER,
	OPT_QUOTA,
	OPT_MAX_CONNS,
};

static const struct option run_opts[] = {
	{ "output", required_argument, NULL, 'o' },
	{ "rotate-bytes", required_argument, NULL, OPT_ROTATE_BYTES },
	{ "rotate-keep", required_argument, NULL, OPT_ROTATE_KEEP },
	{ "pricing", required_argument, NULL, OPT_PRICING },
	{ "bodies", no_argument, NULL, OPT_BODIES },
	{ "body-limit", required_argument, NULL, OPT_BODY_LIMIT },
	{ "db", required_argument, NULL, OPT_DB },
	{ "no-db", no_argument, NULL, OPT_NO_DB },
	{ "retain-days", required_argument, NULL, OPT_RETAIN_DAYS },
	{ "db-max-mb", required_argument, NULL, OPT_DB_MAX_MB },
	{ "listen", required_argument, NULL, OPT_LISTEN },
	{ "no-api", no_argument, NULL, OPT_NO_API },
	{ "api-token", required_argument, NULL, OPT_API_TOKEN },
	{ "config", required_argument, NULL, OPT_CONFIG },
	{ "otlp", required_argument, NULL, OPT_OTLP },
	{ "otlp-header", required_argument, NULL, OPT_OTLP_HEADER },
	{ "quota", required_argument, NULL, OPT_QUOTA },
	{ "max-conns", required_argument, NULL, OPT_MAX_CONNS },
	CLI_CAPTURE_LONG_OPTS,
	{ 0 },
};

/* The stages after capture. */
struct stack {
	struct calls *calls;
	struct pipeline *pipe;
	struct store *store;	/* NULL: none */
	/* run with the API: live aggregates and Prometheus counters,
	 * fed from every record; NULL otherwise. */
	struct metrics *metrics;
	struct prom *prom;
	struct ev_sink capture_sink;	/* the pipeline's, losses noted */
	struct alert_run *alerts;	/* NULL: no alert rules */
	/* replay: alerts go by the records' times, evaluated each second
	 * of them; the latest record's end time. */
	bool replay_clock;
	uint64_t replay_next_eval_ns;
	uint64_t replay_now_ns;
	struct otlp *otlp;	/* --otlp: spans to a collector; or NULL */
	struct quota_run *quotas;	/* run only; NULL otherwise */
	/* Set once capture runs; read by the API thread (/healthz). */
	struct capture *cap;
	struct {	/* loss counts at the last tick */
		uint64_t evicted;
		uint64_t store_dropped;
		uint64_t bodies_cut;
	} seen;
};

/* Where calls are stored; use false: --no-db, or replay without --db. */
struct db_args {
	struct store_opts opts;
	bool use;
};

struct run_args {
	struct calls_opts calls;
	struct capture_opts capture;
	struct db_args db;
	const char *listen;	/* NULL: API_DEFAULT_LISTEN */
	bool no_api;
	const char *api_token;	/* --api-token FILE; NULL: the env */
	const char *config_path;	/* --config; NULL: the default */
	struct otlp_opts otlp;	/* url NULL: no --otlp */
	struct quota_rule quotas[QUOTA_RULES_MAX];	/* --quota */
	size_t n_quotas;
	size_t conns_max;	/* --max-conns; 0: PIPELINE_CONNS_MAX */
	unsigned duration;
};

/* When the call ended, by its record: ts (RFC 3339, UTC, with
 * microseconds) plus duration_ms; 0 if ts cannot be read. */
static uint64_t record_end_ns(const json_t *rec)
{
	const char *ts = json_string_value(json_object_get(rec, "ts"));
	double ms = json_number_value(json_object_get(rec, "duration_ms"));
	unsigned us = 0;
	struct tm tm = { 0 };
	const char *rest = ts ? strptime(ts, "%Y-%m-%dT%H:%M:%S", &tm) : NULL;

	if (!rest)
		return 0;
	if (*rest == '.')
		sscanf(rest + 1, "%6u", &us);
	return (uint64_t)timegm(&tm) * RUN_NS_PER_S + us * 1000ull +
	       (uint64_t)(ms * 1e6);
}

/* A replay's alerts: each record at the time its call ended, and the
 * rules evaluated each second of the recording, as the daemon's tick
 * would have. */
static void stack_replay_alerts(struct stack *s, const json_t *rec)
{
	uint64_t t = record_end_ns(rec);

	if (t > s->replay_now_ns)
		s->replay_now_ns = t;
	alert_run_add_at(s->alerts, rec, s->replay_now_ns);
	if (s->replay_now_ns < s->replay_next_eval_ns)
		return;
	alert_run_tick(s->alerts, s->replay_now_ns, false);
	s->replay_next_eval_ns = s->replay_now_ns + RUN_NS_PER_S;
}

/* Every record, before it is written: to the store and the metrics. */
static void stack_on_record(void *ctx, json_t *rec)
{
	struct stack *s = ctx;

	if (s->store)
		store_add(s->store, rec);
	if (s->metrics)
		metrics_add(s->metrics, rec, (uint64_t)time(NULL));
	if (s->prom)
		prom_add(s->prom, rec);
	if (s->alerts && s->replay_clock)
		stack_replay_alerts(s, rec);
	else if (s->alerts)
		alert_run_add(s->alerts, rec);
	if (s->otlp)
		otlp_add(s->otlp, rec);
	if (s->quotas)
		quota_run_add(s->quotas, rec);
}

/* Alert and enforcement lines are kept in the store too. */
static void stack_on_event(void *ctx, const json_t *ev)
{
	struct stack *s = ctx;

	if (s->store)
		store_add_event(s->store, ev);
}

/* live: the pids are this host's, so /proc may name them. A replay's
 * pids belong to the recording host and must not be looked up here.
 * conns_max: the pipeline's cap, 0 for its default. s->replay_clock
 * set: a replay with alert rules. */
static int stack_open(struct stack *s, const struct calls_opts *co,
		      const struct db_args *db, bool live, size_t conns_max)
{
	struct pipeline_opts po = { .no_procfs = !live,
				    .conns_max = conns_max };
	struct calls_opts o = *co;

	if (db->use) {
		s->store = store_open(&db->opts);
		if (!s->store)
			return -1;
	}
	/* A replay without a store has nobody to hand records on to;
	 * handing them on costs a parse of each line. */
	if (live || db->use || s->replay_clock)
		o.on_record = stack_on_record;
	o.on_event = stack_on_event;
	o.on_record_ctx = s;
	s->calls = calls_new(&o);
	if (!s->calls) {
		store_close(s->store);
		return -1;
	}
	po.sink = calls_sink(s->calls);
	s->pipe = pipeline_new(&po);
	if (!s->pipe) {
		log_err("out of memory starting the pipeline");
		calls_free(s->calls);
		store_close(s->store);
		return -1;
	}
	return 0;
}

/* Frees the pipeline first: it flushes open exchanges as incomplete,
 * and those still need the calls stage. */
static void stack_close(struct stack *s)
{
	struct calls_stats st;

	pipeline_free(s->pipe);
	calls_stats(s->calls, &st);
	log_info("%" PRIu64 " LLM calls written (%" PRIu64 " failed, %"
		 PRIu64 " incomplete), %" PRIu64 " other HTTP exchanges",
		 st.llm_calls, st.failed, st.incomplete, st.not_llm);
	calls_free(s->calls);
	if (store_dropped(s->store))
		log_warn("store: %" PRIu64 " calls could not be stored",
			 store_dropped(s->store));
	store_close(s->store);
}

/* A loss count's growth since the last tick: logged (at most once a
 * second, as capture losses are) and counted for Prometheus and
 * /healthz. */
static void stack_note_loss(struct stack *s, uint64_t all, uint64_t *seen,
			    enum prom_loss what, const char *text)
{
	uint64_t n = all - *seen;

	if (n == 0)
		return;
	*seen = all;
	log_warn("%" PRIu64 " %s in the last second (%" PRIu64 " in all)", n,
		 text, all);
	if (s->prom)
		prom_add_loss(s->prom, what, n);
}

/* Connections evicted past --max-conns, calls the store gave up on
 * (its queue full while the database cannot be written; they are
 * still in the output), bodies cut by the memory budget. */
static void stack_note_losses(struct stack *s)
{
	struct pipeline_stats st;

	pipeline_get_stats(s->pipe, &st);
	stack_note_loss(s, st.evicted, &s->seen.evicted, PROM_LOSS_EVICTED,
			"connections evicted (--max-conns raises the cap)");
	stack_note_loss(s, store_dropped(s->store), &s->seen.store_dropped,
			PROM_LOSS_STORE_DROPPED, "calls not stored");
	stack_note_loss(s, exchange_bodies_cut(), &s->seen.bodies_cut,
			PROM_LOSS_BODIES_CUT,
			"bodies cut at the memory budget for all bodies");
}

static void stack_tick(void *ctx, uint64_t now_ns)
{
	struct stack *s = ctx;
	bool reload;

	pipeline_tick(s->pipe, now_ns);
	if (s->store)
		store_flush(s->store);
	stack_note_losses(s);
	/* SIGHUP: alerts and quotas read the configuration again. */
	reload = cli_reload;
	cli_reload = 0;
	alert_run_tick(s->alerts, now_ns, reload);
	if (reload)
		quota_run_reload(s->quotas);
	quota_run_tick(s->quotas, now_ns);
}

/* Capture events go on to the pipeline; losses are also counted for
 * Prometheus. */
static void run_on_data(void *ctx, const struct ev_data *ev)
{
	struct stack *s = ctx;

	s->capture_sink.on_data(s->capture_sink.ctx, ev);
}

static void run_on_conn(void *ctx, const struct ev_conn *ev)
{
	struct stack *s = ctx;

	s->capture_sink.on_conn(s->capture_sink.ctx, ev);
}

static void run_on_proc(void *ctx, const struct ev_proc *ev)
{
	struct stack *s = ctx;

	s->capture_sink.on_proc(s->capture_sink.ctx, ev);
}

/* A capture loss as a line of the calls output (and an event in the
 * store), as a recording has it: whoever reads the calls learns what
 * is missing from them. Timed when reported. */
static void stack_loss_line(struct stack *s, const struct ev_loss *ev)
{
	time_t now = time(NULL);
	char ts[32];
	struct tm tm;
	json_t *line;

	gmtime_r(&now, &tm);
	strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%SZ", &tm);
	line = json_pack("{s:s, s:s, s:I, s:I, s:I, s:I, s:I}", "type",
			 "loss", "ts", ts, "ringbuf_drops",
			 (json_int_t)ev->rb_drops, "ringbuf_drop_bytes",
			 (json_int_t)ev->rb_drop_bytes, "truncated_calls",
			 (json_int_t)ev->trunc_calls, "truncated_bytes",
			 (json_int_t)ev->trunc_bytes, "read_failures",
			 (json_int_t)ev->read_fails);
	if (line)
		calls_write_json(s->calls, line);
	json_decref(line);
}

static void run_on_loss(void *ctx, const struct ev_loss *ev)
{
	struct stack *s = ctx;

	stack_loss_line(s, ev);
	if (s->prom)
		prom_add_losses(s->prom, ev->rb_drops, ev->trunc_calls,
				ev->read_fails);
	if (s->capture_sink.on_loss)
		s->capture_sink.on_loss(s->capture_sink.ctx, ev);
}

/* The sink capture feeds: the pipeline's, through the above. */
static struct ev_sink run_sink(struct stack *s)
{
	s->capture_sink = pipeline_ev_sink(s->pipe);
	return (struct ev_sink){ .ctx = s, .on_data = run_on_data,
				 .on_conn = run_on_conn,
				 .on_proc = run_on_proc,
				 .on_loss = run_on_loss };
}

static json_t *stack_health(void *ctx)
{
	struct stack *s = ctx;
	struct capture *cap = __atomic_load_n(&s->cap, __ATOMIC_ACQUIRE);

	return cap ? capture_health(cap) : NULL;
}

/* Metrics, Prometheus counters and the API thread serving them. The
 * API reads the store through its own read-only handle. An address
 * asked for must work; the default one being taken (another llmtap,
 * a test) only costs the API, not the capture. */
static int run_api_start(struct stack *s, const struct run_args *a,
			 struct api **out)
{
	struct api_opts o = { .listen = a->listen };
	char *token;

	*out = NULL;
	if (a->no_api)
		return 0;
	s->metrics = metrics_new();
	s->prom = prom_new();
	if (!s->metrics || !s->prom) {
		log_err("out of memory starting the metrics");
		return -ENOMEM;
	}
	if (api_token_load(a->api_token, &token))
		return -EINVAL;
	o.metrics = s->metrics;
	o.prom = s->prom;
	o.health = stack_health;
	o.health_ctx = s;
	o.pricing_path = a->calls.pricing_path;
	if (a->db.use)
		o.db_path = a->db.opts.path ? a->db.opts.path
					    : STORE_DEFAULT_PATH;
	o.token = token;
	*out = api_start(&o);
	api_token_free(token);	/* the API keeps its digest only */
	if (*out || a->listen)
		return *out ? 0 : -EIO;
	log_warn("running without the HTTP API; --listen picks another "
		 "address");
	return 0;
}

/* --otlp: the exporter thread; it never holds the capture up. */
static int run_otlp_start(struct stack *s, const struct otlp_opts *o)
{
	if (!o->url)
		return 0;
	s->otlp = otlp_new(o);
	return s->otlp ? 0 : -EINVAL;
}

/* After the stack is closed: its last records still count (and are
 * still exported). */
static void run_metrics_free(struct stack *s)
{
	metrics_free(s->metrics);
	prom_free(s->prom);
	alert_run_stop(s->alerts);
	otlp_free(s->otlp);
	quota_run_stop(s->quotas);
}

static int api_opt(int opt, const char *arg, struct run_args *a)
{
	if (opt == OPT_LISTEN) {
		a->listen = arg;
		return 1;
	}
	if (opt == OPT_NO_API) {
		a->no_api = true;
		return 1;
	}
	if (opt == OPT_API_TOKEN) {
		a->api_token = arg;
		return 1;
	}
	return 0;
}

/* --quota SPEC; 1 if opt was one, -1 on a bad spec. */
static int quota_opt(int opt, const char *arg, struct run_args *a)
{
	char why[96];

	if (opt != OPT_QUOTA)
		return 0;
	if (a->n_quotas == QUOTA_RULES_MAX) {
		log_err("--quota: at most %d", QUOTA_RULES_MAX);
		return -1;
	}
	if (quota_rule_parse_spec(arg, &a->quotas[a->n_quotas], why,
				  sizeof(why))) {
		log_err("--quota %s: %s", arg, why);
		return -1;
	}
	a->n_quotas++;
	return 1;
}

static int alert_opt(int opt, const char *arg, struct run_args *a)
{
	if (opt != OPT_CONFIG)
		return 0;
	a->config_path = arg;
	return 1;
}

/* --otlp and --otlp-header; 1 if opt was one, -1 on a bad value. */
static int otlp_opt(int opt, const char *arg, struct otlp_opts *o)
{
	if (opt == OPT_OTLP) {
		o->url = arg;
		return 1;
	}
	if (opt == OPT_OTLP_HEADER)
		return otlp_add_header(o, arg) ? -1 : 1;
	return 0;
}

/* Options run and replay share; 1 if opt was one, -1 on error. */
static int output_opt(int opt, const char *arg, struct calls_opts *co)
{
	switch (opt) {
	case 'o':
		co->out_path = arg;
		return 1;
	case OPT_ROTATE_BYTES:
		co->rotate_bytes = strtoull(arg, NULL, 10);
		return 1;
	case OPT_ROTATE_KEEP:
		co->rotate_keep = atoi(arg);
		return 1;
	case OPT_PRICING:
		co->pricing_path = arg;
		return 1;
	case OPT_BODIES:
		co->bodies = true;
		return 1;
	case OPT_BODY_LIMIT:
		co->body_limit = strtoull(arg, NULL, 10);
		return 1;
	case 'v':
		log_set_level(LOG_DEBUG);
		return 1;
	}
	return 0;
}

static int db_number(const char *arg, uint64_t unit, uint64_t *out)
{
	char *end;
	unsigned long long v;

	errno = 0;
	v = strtoull(arg, &end, 10);
	if (errno || end == arg || *end || arg[0] == '-' ||
	    v > UINT64_MAX / unit) {
		log_err("not a number of days or MiB: %s", arg);
		return -1;
	}
	*out = v * unit;
	return 0;
}

/* The store's options; 1 if opt was one, -1 on a bad value. */
static int db_opt(int opt, const char *arg, struct db_args *db)
{
	switch (opt) {
	case OPT_DB:
		db->opts.path = arg;
		db->use = true;
		return 1;
	case OPT_NO_DB:
		db->use = false;
		return 1;
	case OPT_RETAIN_DAYS:
		return db_number(arg, RUN_SECONDS_PER_DAY,
				 &db->opts.retain_seconds) ? -1 : 1;
	case OPT_DB_MAX_MB:
		return db_number(arg, RUN_BYTES_PER_MB,
				 &db->opts.max_bytes) ? -1 : 1;
	}
	return 0;
}

/* --max-conns N: 1 if opt was it, -1 on a bad value. */
static int conns_opt(int opt, const char *arg, size_t *out)
{
	char *end;
	unsigned long long v;

	if (opt != OPT_MAX_CONNS)
		return 0;
	errno = 0;
	v = strtoull(arg, &end, 10);
	if (errno || end == arg || *end || arg[0] == '-' || v == 0 ||
	    v > RUN_CONNS_LIMIT) {
		log_err("--max-conns: not a number from 1 to %llu: %s",
			RUN_CONNS_LIMIT, arg);
		return -1;
	}
	*out = (size_t)v;
	return 1;
}

/* Attached: what is left to do needs far less than root. A failure
 * costs the hardening, not the capture. */
static void run_drop_privs(void)
{
	int err = privs_drop();

	if (err)
		log_warn("capabilities not dropped (%s): running with all "
			 "of them", strerror(-err));
}

/* 0 to go on, else the exit code. */
static int parse_run(int argc, char **argv, struct run_args *a)
{
	int opt;

	a->capture.uid = -1;
	a->calls.rotate_keep = 5;
	a->db.use = true;
	a->db.opts.retain_seconds = RUN_RETAIN_DAYS * RUN_SECONDS_PER_DAY;
	a->db.opts.max_bytes = RUN_DB_MAX_MB * RUN_BYTES_PER_MB;
	while ((opt = getopt_long(argc, argv, "o:" CLI_CAPTURE_SHORT_OPTS, run_opts,
				  NULL)) != -1) {
		int res = cli_capture_opt(opt, optarg, &a->capture);

		if (res == 0)
			res = output_opt(opt, optarg, &a->calls);
		if (res == 0)
			res = db_opt(opt, optarg, &a->db);
		if (res == 0)
			res = api_opt(opt, optarg, a);
		if (res == 0)
			res = alert_opt(opt, optarg, a);
		if (res == 0)
			res = otlp_opt(opt, optarg, &a->otlp);
		if (res == 0)
			res = quota_opt(opt, optarg, a);
		if (res == 0)
			res = conns_opt(opt, optarg, &a->conns_max);
		if (res < 0)
			return 2;
		if (res > 0)
			continue;
		if (opt == 'd') {
			a->duration = (unsigned)strtoul(optarg, NULL, 10);
			continue;
		}
		fputs(run_usage, opt == 'h' ? stdout : stderr);
		return opt == 'h' ? 0 : 2;
	}
	if (optind < argc) {
		log_err("run takes no arguments: '%s'", argv[optind]);
		return 2;
	}
	return -1;
}

int cmd_run(int argc, char **argv)
{
	struct run_args a = { 0 };
	struct stack s = { 0 };
	struct capture *cap;
	struct ev_sink sink;
	struct api *api = NULL;
	int rc, err;

	rc = parse_run(argc, argv, &a);
	if (rc >= 0)
		return rc;

	/* Output stages, then capture, then poll until told to stop. */
	a.db.opts.pricing_path = a.calls.pricing_path;
	if (stack_open(&s, &a.calls, &a.db, true, a.conns_max))
		return 1;
	sink = run_sink(&s);
	cap = alert_run_start(a.config_path, s.calls, true, &s.alerts) ||
	      quota_run_start(a.config_path, a.quotas, a.n_quotas, s.calls,
			      &s.quotas) ||
	      run_api_start(&s, &a, &api) || run_otlp_start(&s, &a.otlp) ?
	      NULL : capture_open(&a.capture, &sink);
	if (!cap) {
		api_stop(api);
		stack_close(&s);
		run_metrics_free(&s);
		return 1;
	}
	__atomic_store_n(&s.cap, cap, __ATOMIC_RELEASE);
	run_drop_privs();
	cli_install_signals();
	cli_install_reload();
	log_info("running: LLM calls to %s, stored in %s",
		 a.calls.out_path ? a.calls.out_path : "stdout",
		 !a.db.use ? "no database" : a.db.opts.path ?
		 a.db.opts.path : STORE_DEFAULT_PATH);

	err = cli_capture_loop(cap, a.duration, stack_tick, &s);

	/* The API thread reads capture state: stop it first. */
	api_stop(api);
	capture_close(cap);
	stack_close(&s);
	run_metrics_free(&s);
	log_info("stopped");
	return err ? 1 : 0;
}

/* The recording's end: the last records flushed, a last evaluation
 * at the last call's end, the alerts' totals logged. */
static void stack_replay_end(struct stack *s)
{
	pipeline_free(s->pipe);
	s->pipe = NULL;
	alert_run_evaluate(s->alerts, s->replay_now_ns);
	alert_run_stop(s->alerts);
	s->alerts = NULL;
}

int cmd_replay(int argc, char **argv)
{
	struct calls_opts co = { 0 };
	struct db_args db = { 0 };
	struct replay_stats st;
	struct stack s = { 0 };
	const char *config = NULL;
	struct ev_sink sink;
	int opt, err;

	while ((opt = getopt_long(argc, argv, "o:vh", run_opts, NULL)) !=
	       -1) {
		int res = output_opt(opt, optarg, &co);

		if (res == 0 && opt == OPT_DB)
			res = db_opt(opt, optarg, &db);
		if (res == 0 && opt == OPT_CONFIG) {
			config = optarg;
			res = 1;
		}
		if (res < 0)
			return 2;
		if (res > 0)
			continue;
		fputs(replay_usage, opt == 'h' ? stdout : stderr);
		return opt == 'h' ? 0 : 2;
	}
	if (optind != argc - 1) {
		log_err("replay needs one recording file; see --help");
		return 2;
	}

	db.opts.pricing_path = co.pricing_path;
	co.out_hold = REPLAY_OUT_HOLD;
	s.replay_clock = config != NULL;
	if (stack_open(&s, &co, &db, false, 0))
		return 1;
	if (config && alert_run_start(config, s.calls, false, &s.alerts)) {
		stack_close(&s);
		return 1;
	}
	sink = pipeline_ev_sink(s.pipe);
	err = replay_file(argv[optind], &sink, &st);
	stack_replay_end(&s);
	stack_close(&s);
	log_info("replayed %" PRIu64 " lines: %" PRIu64 " events, %" PRIu64
		 " bad lines", st.lines, st.events, st.bad_lines);
	return err ? 1 : 0;
}
