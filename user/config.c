// SPDX-License-Identifier: MIT
/*
 * The configuration loader: libyaml's document API builds a node tree
 * (with a line for every node), and the walk below checks it against
 * the schema in README.md, 'Alerts', filling struct config. Every
 * problem is collected, not only the first, so one run of
 * `llmtap check-config` lists them all.
 */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <yaml.h>

#include "config.h"
#include "log.h"

#define CFG_FIELD_LEN 160
#define CFG_MSG_LEN 512
/* A window or an interval longer than a year is surely a typo. */
#define CFG_MAX_DURATION_S (366ull * 86400)
#define CFG_MAX_EVALUATE_S 3600
#define CFG_MAX_EXEC_TIMEOUT_S 600

struct cfg_ctx {
	yaml_document_t *doc;
	const char *name;
	struct config_diag *diag;
	struct config *cfg;
	const char *rule;	/* "alerts[N]" while a rule is read */
	int errors;
};

/* --- diagnostics ---------------------------------------------------- */

/* Inserts msg after the messages of its line and those before it:
 * rules are checked in passes, but read best in file order. */
static void cfg_diag_add(struct config_diag *d, size_t line,
			 const char *msg)
{
	char **m, *copy;
	size_t *l, i;

	if (d->n >= CONFIG_MAX_ERRORS)
		return;
	m = realloc(d->msgs, (d->n + 1) * sizeof(*m));
	if (m)
		d->msgs = m;
	l = realloc(d->lines, (d->n + 1) * sizeof(*l));
	if (l)
		d->lines = l;
	copy = m && l ? strdup(msg) : NULL;
	if (!copy)
		return;
	for (i = d->n; i > 0 && d->lines[i - 1] > line; i--) {
		d->msgs[i] = d->msgs[i - 1];
		d->lines[i] = d->lines[i - 1];
	}
	d->msgs[i] = copy;
	d->lines[i] = line;
	d->n++;
}

__attribute__((format(printf, 4, 5)))
static void cfg_err(struct cfg_ctx *x, const yaml_node_t *node,
		    const char *field, const char *fmt, ...)
{
	char msg[2 * CFG_MSG_LEN], what[CFG_MSG_LEN];
	size_t line = node ? node->start_mark.line + 1 : 1;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	snprintf(msg, sizeof(msg), "%s:%zu: %s%s%s", x->name, line, field,
		 field[0] ? ": " : "", what);
	x->errors++;
	if (x->diag)
		cfg_diag_add(x->diag, line, msg);
}

void config_diag_clear(struct config_diag *d)
{
	size_t i;

	if (!d)
		return;
	for (i = 0; i < d->n; i++)
		free(d->msgs[i]);
	free(d->msgs);
	free(d->lines);
	d->msgs = NULL;
	d->lines = NULL;
	d->n = 0;
}

void config_diag_log(const struct config_diag *d)
{
	size_t i;

	for (i = 0; i < d->n; i++)
		log_err("%s", d->msgs[i]);
}

/* --- names ---------------------------------------------------------- */

static const char *const cfg_metrics[] = {
	[CONFIG_ERROR_RATE] = "error_rate",
	[CONFIG_COST] = "cost",
	[CONFIG_REQUESTS] = "requests",
	[CONFIG_TOKENS] = "tokens",
	[CONFIG_LATENCY_P50] = "latency_p50",
	[CONFIG_LATENCY_P95] = "latency_p95",
	[CONFIG_LATENCY_P99] = "latency_p99",
	[CONFIG_TTFT_P95] = "ttft_p95",
};

#define CFG_N_METRICS (sizeof(cfg_metrics) / sizeof(cfg_metrics[0]))

static const char *const cfg_types[] = {
	[CONFIG_SLACK] = "slack",
	[CONFIG_WEBHOOK] = "webhook",
	[CONFIG_EMAIL] = "email",
	[CONFIG_EXEC] = "exec",
};

#define CFG_N_TYPES (sizeof(cfg_types) / sizeof(cfg_types[0]))

static const char *const cfg_ops[] = {
	[CONFIG_GT] = ">", [CONFIG_GE] = ">=",
	[CONFIG_LT] = "<", [CONFIG_LE] = "<=",
};

static const char *const cfg_severities[] = { "info", "warning",
					      "critical" };

#define CFG_N_SEVERITIES \
	(sizeof(cfg_severities) / sizeof(cfg_severities[0]))

const char *config_metric_name(enum config_metric m)
{
	return m < CFG_N_METRICS ? cfg_metrics[m] : "?";
}

const char *config_op_name(enum config_op op)
{
	return op <= CONFIG_LE ? cfg_ops[op] : "?";
}

const char *config_type_name(enum config_notifier_type t)
{
	return t < CFG_N_TYPES ? cfg_types[t] : "?";
}

/* Index of s in names, or -1. */
static int cfg_lookup(const char *const *names, size_t n, const char *s)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (names[i] && !strcmp(names[i], s))
			return (int)i;
	return -1;
}

/* --- values --------------------------------------------------------- */

int config_parse_duration(const char *s, uint64_t *out_s)
{
	static const char units[] = "smhdw";
	static const uint64_t unit_s[] = { 1, 60, 3600, 86400, 604800 };
	uint64_t total = 0;

	if (!*s)
		return -EINVAL;
	while (*s) {
		const char *u;
		unsigned long long n;
		char *end;

		if (*s < '0' || *s > '9')
			return -EINVAL;
		errno = 0;
		n = strtoull(s, &end, 10);
		u = *end ? strchr(units, *end) : NULL;
		if (errno || !u || n > CFG_MAX_DURATION_S)
			return -EINVAL;
		total += n * unit_s[u - units];
		if (total > CFG_MAX_DURATION_S)
			return -EINVAL;
		s = end + 1;
	}
	*out_s = total;
	return 0;
}

/* The node as a string, or NULL (reported) when it is not a scalar. */
static const char *cfg_str(struct cfg_ctx *x, const yaml_node_t *n,
			   const char *field)
{
	const char *s;

	if (!n || n->type != YAML_SCALAR_NODE) {
		cfg_err(x, n, field, "must be a single value");
		return NULL;
	}
	s = (const char *)n->data.scalar.value;
	if (strlen(s) != n->data.scalar.length) {
		cfg_err(x, n, field, "holds a NUL character");
		return NULL;
	}
	return s;
}

static char *cfg_dup(struct cfg_ctx *x, const yaml_node_t *n,
		     const char *field)
{
	const char *s = cfg_str(x, n, field);
	char *d;

	if (!s)
		return NULL;
	if (!s[0]) {
		cfg_err(x, n, field, "must not be empty");
		return NULL;
	}
	d = strdup(s);
	if (!d)
		cfg_err(x, n, field, "out of memory");
	return d;
}

static int cfg_duration(struct cfg_ctx *x, const yaml_node_t *n,
			const char *field, uint64_t *out)
{
	const char *s = cfg_str(x, n, field);

	if (!s)
		return -EINVAL;
	if (config_parse_duration(s, out) || *out == 0) {
		cfg_err(x, n, field, "\"%s\" is not a duration: a number "
			"and a unit (s, m, h, d, w), e.g. 30s, 10m, 1d, "
			"1h30m", s);
		return -EINVAL;
	}
	return 0;
}

static int cfg_uint(struct cfg_ctx *x, const yaml_node_t *n,
		    const char *field, uint64_t max, uint64_t *out)
{
	const char *s = cfg_str(x, n, field);
	unsigned long long v;
	char *end;

	if (!s)
		return -EINVAL;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || end == s || *end || s[0] == '-' || v > max) {
		cfg_err(x, n, field, "\"%s\" must be a whole number from 0 "
			"to %llu", s, (unsigned long long)max);
		return -EINVAL;
	}
	*out = v;
	return 0;
}

/* --- walking maps and lists ----------------------------------------- */

static yaml_node_t *cfg_node(struct cfg_ctx *x, int id)
{
	return yaml_document_get_node(x->doc, id);
}

typedef void (*cfg_pair_fn)(struct cfg_ctx *x, const char *key,
			    yaml_node_t *knode, yaml_node_t *val,
			    void *arg);

/* Calls fn for each key of a map, after reporting keys that repeat. */
static int cfg_each_pair(struct cfg_ctx *x, yaml_node_t *map,
			 const char *field, cfg_pair_fn fn, void *arg)
{
	yaml_node_pair_t *p, *q;

	if (!map || map->type != YAML_MAPPING_NODE) {
		cfg_err(x, map, field, "must be a map of key: value");
		return -EINVAL;
	}
	for (p = map->data.mapping.pairs.start;
	     p < map->data.mapping.pairs.top; p++) {
		yaml_node_t *k = cfg_node(x, p->key);
		const char *key = cfg_str(x, k, field);

		if (!key)
			continue;
		for (q = map->data.mapping.pairs.start; q < p; q++) {
			yaml_node_t *k2 = cfg_node(x, q->key);

			if (k2->type == YAML_SCALAR_NODE &&
			    !strcmp((char *)k2->data.scalar.value, key))
				break;
		}
		if (q < p) {
			cfg_err(x, k, field, "\"%s\" is given twice", key);
			continue;
		}
		fn(x, key, k, cfg_node(x, p->value), arg);
	}
	return 0;
}

/* The items of a list; a single value counts as a list of one. */
static size_t cfg_items(struct cfg_ctx *x, yaml_node_t *n,
			yaml_node_t **out, size_t max, const char *field)
{
	yaml_node_item_t *it;
	size_t k = 0;

	if (n && n->type == YAML_SCALAR_NODE) {
		out[0] = n;
		return 1;
	}
	if (!n || n->type != YAML_SEQUENCE_NODE) {
		cfg_err(x, n, field, "must be a list");
		return 0;
	}
	for (it = n->data.sequence.items.start;
	     it < n->data.sequence.items.top; it++) {
		if (k == max) {
			cfg_err(x, n, field, "more than %zu items", max);
			break;
		}
		out[k++] = cfg_node(x, *it);
	}
	return k;
}

static void cfg_field(char *buf, const char *parent, const char *key)
{
	snprintf(buf, CFG_FIELD_LEN, "%s%s%s", parent, parent[0] ? "." : "",
		 key);
}

/* --- notifiers ------------------------------------------------------ */

struct cfg_notifier_arg {
	struct config_notifier *nf;
	const char *field;
	yaml_node_t *type_node;
	yaml_node_t *to_node;
	unsigned timeout_s;	/* 0: not given */
};

static int cfg_url(struct cfg_ctx *x, yaml_node_t *n, const char *field,
		   const char *const *schemes, char **out)
{
	char *s = cfg_dup(x, n, field);
	size_t i;

	if (!s)
		return -EINVAL;
	for (i = 0; schemes[i]; i++)
		if (!strncmp(s, schemes[i], strlen(schemes[i])) &&
		    s[strlen(schemes[i])]) {
			*out = s;
			return 0;
		}
	cfg_err(x, n, field, "\"%s\" must start with %s%s%s", s, schemes[0],
		schemes[1] ? " or " : "", schemes[1] ? schemes[1] : "");
	free(s);
	return -EINVAL;
}

static void cfg_to(struct cfg_ctx *x, struct config_notifier *nf,
		   yaml_node_t *n, const char *field)
{
	yaml_node_t *items[CONFIG_MAX_LIST];
	size_t k = cfg_items(x, n, items, CONFIG_MAX_LIST, field), i;

	nf->to = calloc(k ? k : 1, sizeof(*nf->to));
	if (!nf->to) {
		cfg_err(x, n, field, "out of memory");
		return;
	}
	for (i = 0; i < k; i++) {
		char *s = cfg_dup(x, items[i], field);

		if (s)
			nf->to[nf->n_to++] = s;
	}
}

static void cfg_notifier_key(struct cfg_ctx *x, const char *key,
			     yaml_node_t *knode, yaml_node_t *val,
			     void *argp)
{
	static const char *const web[] = { "https://", "http://", NULL };
	static const char *const smtp[] = { "smtp://", "smtps://", NULL };
	struct cfg_notifier_arg *a = argp;
	struct config_notifier *nf = a->nf;
	char field[CFG_FIELD_LEN];
	uint64_t v;

	cfg_field(field, a->field, key);
	if (!strcmp(key, "type"))
		a->type_node = val;
	else if (!strcmp(key, "url"))
		cfg_url(x, val, field, web, &nf->url);
	else if (!strcmp(key, "channel"))
		nf->channel = cfg_dup(x, val, field);
	else if (!strcmp(key, "smtp_url"))
		cfg_url(x, val, field, smtp, &nf->smtp_url);
	else if (!strcmp(key, "from"))
		nf->from = cfg_dup(x, val, field);
	else if (!strcmp(key, "to"))
		a->to_node = val;
	else if (!strcmp(key, "command"))
		nf->command = cfg_dup(x, val, field);
	else if (strcmp(key, "timeout"))
		cfg_err(x, knode, field, "unknown key");
	else if (cfg_duration(x, val, field, &v))
		return;
	else if (v > CFG_MAX_EXEC_TIMEOUT_S)
		cfg_err(x, val, field, "at most %ds", CFG_MAX_EXEC_TIMEOUT_S);
	else
		a->timeout_s = (unsigned)v;
}

/* Which keys each type needs, and which it may not have. */
static void cfg_notifier_check(struct cfg_ctx *x, yaml_node_t *node,
			       struct cfg_notifier_arg *a)
{
	struct config_notifier *nf = a->nf;
	bool web = nf->type == CONFIG_SLACK || nf->type == CONFIG_WEBHOOK;
	bool mail = nf->type == CONFIG_EMAIL;
	bool ex = nf->type == CONFIG_EXEC;
	const char *t = cfg_types[nf->type];

	if (web && !nf->url)
		cfg_err(x, node, a->field, "a %s notifier needs url", t);
	if (mail && (!nf->smtp_url || !nf->from || !a->to_node))
		cfg_err(x, node, a->field, "an email notifier needs "
			"smtp_url, from and to");
	if (ex && !nf->command)
		cfg_err(x, node, a->field, "an exec notifier needs command");
	if ((nf->url && !web) || (nf->channel && nf->type != CONFIG_SLACK) ||
	    ((nf->smtp_url || nf->from || a->to_node) && !mail) ||
	    (nf->command && !ex))
		cfg_err(x, node, a->field, "a key that %s notifiers do not "
			"take (slack: url, channel; webhook: url; email: "
			"smtp_url, from, to; exec: command, timeout)", t);
	if (a->timeout_s && !ex)
		cfg_err(x, node, a->field, "only exec notifiers take a "
			"timeout");
	if (mail && a->to_node)
		cfg_to(x, nf, a->to_node, "to");
	nf->timeout_s = a->timeout_s ? a->timeout_s :
				       CONFIG_EXEC_TIMEOUT_DEFAULT_S;
}

static void cfg_notifier(struct cfg_ctx *x, const char *name,
			 yaml_node_t *knode, yaml_node_t *val, void *arg)
{
	struct config *c = x->cfg;
	struct config_notifier *nf;
	char field[CFG_FIELD_LEN];
	struct cfg_notifier_arg a = { 0 };
	const char *type;
	int t;

	cfg_field(field, "notifiers", name);
	if (c->n_notifiers == CONFIG_MAX_NOTIFIERS) {
		cfg_err(x, knode, field, "more than %d notifiers",
			CONFIG_MAX_NOTIFIERS);
		return;
	}
	nf = &c->notifiers[c->n_notifiers];
	nf->name = strdup(name);
	if (!nf->name) {
		cfg_err(x, knode, field, "out of memory");
		return;
	}
	c->n_notifiers++;
	nf->line = (int)knode->start_mark.line + 1;
	a.nf = nf;
	a.field = field;
	if (cfg_each_pair(x, val, field, cfg_notifier_key, &a))
		return;
	if (!a.type_node) {
		cfg_err(x, val, field, "needs a type: slack, webhook, email "
			"or exec");
		return;
	}
	type = cfg_str(x, a.type_node, "type");
	t = type ? cfg_lookup(cfg_types, CFG_N_TYPES, type) : -1;
	if (t < 0) {
		cfg_err(x, a.type_node, field, "type \"%s\" is not slack, "
			"webhook, email or exec", type ? type : "");
		return;
	}
	nf->type = (enum config_notifier_type)t;
	cfg_notifier_check(x, val, &a);
}

/* --- attributes (where, group_by) ----------------------------------- */

static const char *const cfg_attrs[] = {
	[CONFIG_ATTR_PROVIDER] = "provider",
	[CONFIG_ATTR_MODEL] = "model",
	[CONFIG_ATTR_USER_ID] = "user_id",
	[CONFIG_ATTR_PROCESS] = "process",
	[CONFIG_ATTR_UID] = "uid",
};

#define CFG_N_ATTRS (sizeof(cfg_attrs) / sizeof(cfg_attrs[0]))
#define CFG_PROPERTY "property."

static int cfg_key(struct cfg_ctx *x, yaml_node_t *n, const char *s,
		   const char *field, struct config_key *k)
{
	int a = cfg_lookup(cfg_attrs, CFG_N_ATTRS, s);
	size_t plen = strlen(CFG_PROPERTY);

	if (a >= 0) {
		k->attr = (enum config_attr)a;
	} else if (!strncmp(s, CFG_PROPERTY, plen) && s[plen]) {
		k->attr = CONFIG_ATTR_PROPERTY;
		k->property = strdup(s + plen);
	} else {
		cfg_err(x, n, field, "\"%s\" is not provider, model, "
			"user_id, process, uid or property.NAME", s);
		return -EINVAL;
	}
	k->text = strdup(s);
	return 0;
}

static void cfg_where_pair(struct cfg_ctx *x, const char *key,
			   yaml_node_t *knode, yaml_node_t *val, void *arg)
{
	struct config_alert *r = arg;
	struct config_where *w;
	char field[CFG_FIELD_LEN];
	const char *v;
	uint64_t uid;

	snprintf(field, sizeof(field), "%s.where.%s", x->rule, key);
	if (r->n_where == CONFIG_MAX_LIST) {
		cfg_err(x, knode, field, "more than %d conditions",
			CONFIG_MAX_LIST);
		return;
	}
	w = &r->where[r->n_where];
	if (cfg_key(x, knode, key, field, &w->key))
		return;
	r->n_where++;
	v = cfg_str(x, val, field);
	if (!v)
		return;
	if (strlen(v) > CONFIG_MAX_VALUE)
		cfg_err(x, val, field, "longer than %d characters",
			CONFIG_MAX_VALUE);
	else if (w->key.attr == CONFIG_ATTR_UID &&
		 cfg_uint(x, val, field, UINT32_MAX, &uid))
		return;
	w->value = strdup(v);
}

/* --- alert rules ---------------------------------------------------- */

/* The unit each metric's threshold is written in. */
static const char *cfg_unit_for(enum config_metric m)
{
	switch (m) {
	case CONFIG_ERROR_RATE:
		return "%";
	case CONFIG_COST:
		return "$";
	case CONFIG_REQUESTS:
	case CONFIG_TOKENS:
		return "";
	default:
		return "ms";
	}
}

/* "> 5%", ">= $100", "> 10000ms", "> 2s", ">= 3": operator, then a
 * number with its unit. 0, or -EINVAL with *why set. */
static int cfg_threshold_parse(const char *s, enum config_op *op,
			       double *v, char *unit, size_t ulen,
			       const char **why)
{
	size_t n = 0;
	char *end;

	while (*s == ' ')
		s++;
	if (s[0] == '>' || s[0] == '<') {
		*op = s[0] == '>' ? (s[1] == '=' ? CONFIG_GE : CONFIG_GT) :
				    (s[1] == '=' ? CONFIG_LE : CONFIG_LT);
		s += s[1] == '=' ? 2 : 1;
	} else {
		*why = "needs a comparison first: >, >=, < or <=";
		return -EINVAL;
	}
	while (*s == ' ')
		s++;
	if (*s == '$')
		unit[n++] = *s++;
	while (*s == ' ')
		s++;
	if ((*s < '0' || *s > '9') && *s != '.') {
		*why = "needs a number after the comparison";
		return -EINVAL;
	}
	*v = strtod(s, &end);
	for (s = end; *s == ' '; s++)
		;
	while (*s && *s != ' ' && n + 1 < ulen)
		unit[n++] = *s++;
	unit[n] = '\0';
	while (*s == ' ')
		s++;
	if (*s || !isfinite(*v)) {
		*why = "has something after the unit";
		return -EINVAL;
	}
	return 0;
}

static void cfg_threshold(struct cfg_ctx *x, struct config_alert *r,
			  yaml_node_t *n, const char *field)
{
	const char *want = cfg_unit_for(r->metric), *why = NULL, *s;
	char unit[8];

	if (n && n->type == YAML_SCALAR_NODE &&
	    (n->data.scalar.style == YAML_FOLDED_SCALAR_STYLE ||
	     n->data.scalar.style == YAML_LITERAL_SCALAR_STYLE)) {
		cfg_err(x, n, field, "write it in quotes, e.g. \"> 5%%\": a "
			"bare > or | starts a YAML block");
		return;
	}
	s = cfg_str(x, n, field);
	if (!s)
		return;
	r->threshold_text = strdup(s);
	if (cfg_threshold_parse(s, &r->op, &r->threshold, unit,
				sizeof(unit), &why)) {
		cfg_err(x, n, field, "\"%s\" %s", s, why);
		return;
	}
	if (!strcmp(want, "ms") && !strcmp(unit, "s")) {
		r->threshold *= 1000;
		return;
	}
	if (strcmp(unit, want))
		cfg_err(x, n, field, "\"%s\" %s for %s: %s", s,
			unit[0] ? "has the wrong unit" : "needs a unit",
			cfg_metrics[r->metric], want[0] ? want :
			"a plain number");
}

static void cfg_notify(struct cfg_ctx *x, struct config_alert *r,
		       yaml_node_t *n, const char *field)
{
	yaml_node_t *items[CONFIG_MAX_LIST];
	size_t k = cfg_items(x, n, items, CONFIG_MAX_LIST, field), i, j;
	struct config *c = x->cfg;

	r->notify = calloc(k ? k : 1, sizeof(*r->notify));
	if (!r->notify)
		return;
	for (i = 0; i < k; i++) {
		const char *name = cfg_str(x, items[i], field);

		if (!name)
			continue;
		for (j = 0; j < c->n_notifiers; j++)
			if (!strcmp(c->notifiers[j].name, name))
				break;
		if (j == c->n_notifiers)
			cfg_err(x, items[i], field, "no notifier is named "
				"\"%s\"", name);
		else
			r->notify[r->n_notify++] = j;
	}
}

/* The keys of a rule, in the order they can be checked: the metric
 * decides the threshold's unit, so it is read in a first pass. */
struct cfg_alert_arg {
	struct config_alert *r;
	const char *field;
	yaml_node_t *metric, *threshold, *window;
};

static void cfg_alert_key(struct cfg_ctx *x, const char *key,
			  yaml_node_t *knode, yaml_node_t *val, void *argp)
{
	struct cfg_alert_arg *a = argp;
	struct config_alert *r = a->r;
	char field[CFG_FIELD_LEN];
	const char *s;

	cfg_field(field, a->field, key);
	if (!strcmp(key, "name")) {
		r->name = cfg_dup(x, val, field);
	} else if (!strcmp(key, "metric")) {
		a->metric = val;
	} else if (!strcmp(key, "threshold")) {
		a->threshold = val;
	} else if (!strcmp(key, "window")) {
		a->window = val;
	} else if (!strcmp(key, "min_requests")) {
		cfg_uint(x, val, field, UINT32_MAX, &r->min_requests);
	} else if (!strcmp(key, "where")) {
		cfg_each_pair(x, val, field, cfg_where_pair, r);
	} else if (!strcmp(key, "group_by")) {
		s = cfg_str(x, val, field);
		r->grouped = s && !cfg_key(x, val, s, field, &r->group_by);
	} else if (!strcmp(key, "severity")) {
		s = cfg_str(x, val, field);
		if (s && cfg_lookup(cfg_severities, CFG_N_SEVERITIES,
				    s) < 0)
			cfg_err(x, val, field, "\"%s\" is not info, warning "
				"or critical", s);
		else if (s)
			r->severity = strdup(s);
	} else if (!strcmp(key, "notify")) {
		cfg_notify(x, r, val, field);
	} else if (!strcmp(key, "renotify")) {
		cfg_duration(x, val, field, &r->renotify_s);
	} else {
		cfg_err(x, knode, field, "unknown key");
	}
}

static void cfg_alert_metric(struct cfg_ctx *x, struct cfg_alert_arg *a,
			     yaml_node_t *node)
{
	char field[CFG_FIELD_LEN];
	const char *s;
	int m;

	cfg_field(field, a->field, "metric");
	if (!a->metric) {
		cfg_err(x, node, a->field, "needs a metric");
		return;
	}
	s = cfg_str(x, a->metric, field);
	m = s ? cfg_lookup(cfg_metrics, CFG_N_METRICS, s) : -1;
	if (m < 0 && s)
		cfg_err(x, a->metric, field, "\"%s\" is not error_rate, "
			"cost, requests, tokens, latency_p50, latency_p95, "
			"latency_p99 or ttft_p95", s);
	if (m < 0)
		return;
	a->r->metric = (enum config_metric)m;
	cfg_field(field, a->field, "threshold");
	if (a->threshold)
		cfg_threshold(x, a->r, a->threshold, field);
	else
		cfg_err(x, node, a->field, "needs a threshold");
}

static void cfg_alert_window(struct cfg_ctx *x, struct cfg_alert_arg *a,
			     yaml_node_t *node)
{
	char field[CFG_FIELD_LEN];

	cfg_field(field, a->field, "window");
	if (!a->window) {
		cfg_err(x, node, a->field, "needs a window, e.g. 10m");
		return;
	}
	if (!cfg_duration(x, a->window, field, &a->r->window_s))
		a->r->window_text =
			strdup((char *)a->window->data.scalar.value);
}

static void cfg_alert_names(struct cfg_ctx *x, struct config_alert *r,
			    yaml_node_t *node, const char *field)
{
	size_t i;

	if (!r->name) {
		cfg_err(x, node, field, "needs a name");
		return;
	}
	for (i = 0; &x->cfg->alerts[i] != r; i++)
		if (x->cfg->alerts[i].name &&
		    !strcmp(x->cfg->alerts[i].name, r->name))
			cfg_err(x, node, field, "the name \"%s\" is taken by "
				"alerts[%zu]", r->name, i);
	if (!r->severity)
		r->severity = strdup("warning");
}

static void cfg_alert(struct cfg_ctx *x, yaml_node_t *node, size_t idx)
{
	struct config_alert *r = &x->cfg->alerts[idx];
	char field[CFG_FIELD_LEN];
	struct cfg_alert_arg a = { .r = r, .field = field };

	snprintf(field, sizeof(field), "alerts[%zu]", idx);
	r->line = (int)node->start_mark.line + 1;
	r->where = calloc(CONFIG_MAX_LIST, sizeof(*r->where));
	if (!r->where) {
		cfg_err(x, node, field, "out of memory");
		return;
	}
	/* where's messages name the rule: keep its field at hand. */
	x->rule = field;
	if (cfg_each_pair(x, node, field, cfg_alert_key, &a))
		return;
	cfg_alert_metric(x, &a, node);
	cfg_alert_window(x, &a, node);
	cfg_alert_names(x, r, node, field);
}

static void cfg_alerts(struct cfg_ctx *x, yaml_node_t *n)
{
	yaml_node_item_t *it;
	size_t k;

	if (n->type != YAML_SEQUENCE_NODE) {
		cfg_err(x, n, "alerts", "must be a list of rules");
		return;
	}
	k = (size_t)(n->data.sequence.items.top -
		     n->data.sequence.items.start);
	if (k > CONFIG_MAX_ALERTS) {
		cfg_err(x, n, "alerts", "more than %d rules",
			CONFIG_MAX_ALERTS);
		return;
	}
	x->cfg->alerts = calloc(k ? k : 1, sizeof(*x->cfg->alerts));
	if (!x->cfg->alerts)
		return;
	for (it = n->data.sequence.items.start;
	     it < n->data.sequence.items.top; it++)
		cfg_alert(x, cfg_node(x, *it), x->cfg->n_alerts++);
	x->rule = NULL;
}

/* --- quotas -------------------------------------------------------- */

struct cfg_quota_arg {
	struct quota_rule *r;
	const char *field;
};

static void cfg_quota_key(struct cfg_ctx *x, const char *key,
			  yaml_node_t *knode, yaml_node_t *val, void *arg)
{
	struct cfg_quota_arg *a = arg;
	char field[CFG_FIELD_LEN];
	const char *v;

	snprintf(field, sizeof(field), "%s.%s", a->field, key);
	v = cfg_str(x, val, field);
	if (v && quota_rule_set(a->r, key, v))
		cfg_err(x, val, field, "\"%s\" is not valid here (name; "
			"scope: global, uid, process, cgroup, container, "
			"user_id, session; metric: requests, tokens, cost; "
			"limit: a number or $N; window: e.g. 10m; action: "
			"alert, block)", v);
}

static void cfg_quota(struct cfg_ctx *x, yaml_node_t *node, size_t idx)
{
	struct quota_rule *r = &x->cfg->quotas[idx];
	char field[CFG_FIELD_LEN];
	struct cfg_quota_arg a = { .r = r, .field = field };

	snprintf(field, sizeof(field), "quotas[%zu]", idx);
	r->action = QUOTA_ALERT;
	if (cfg_each_pair(x, node, field, cfg_quota_key, &a))
		return;
	if (!r->name[0] || r->limit <= 0 || !r->window_s)
		cfg_err(x, node, field, "needs name, limit and window");
}

static void cfg_quotas(struct cfg_ctx *x, yaml_node_t *n)
{
	yaml_node_item_t *it;
	size_t k;

	if (n->type != YAML_SEQUENCE_NODE) {
		cfg_err(x, n, "quotas", "must be a list of quotas");
		return;
	}
	k = (size_t)(n->data.sequence.items.top -
		     n->data.sequence.items.start);
	if (k > QUOTA_RULES_MAX) {
		cfg_err(x, n, "quotas", "more than %d quotas",
			QUOTA_RULES_MAX);
		return;
	}
	x->cfg->quotas = calloc(k ? k : 1, sizeof(*x->cfg->quotas));
	if (!x->cfg->quotas)
		return;
	for (it = n->data.sequence.items.start;
	     it < n->data.sequence.items.top; it++)
		cfg_quota(x, cfg_node(x, *it), x->cfg->n_quotas++);
}

/* --- the document --------------------------------------------------- */

static void cfg_top_key(struct cfg_ctx *x, const char *key,
			yaml_node_t *knode, yaml_node_t *val, void *arg)
{
	uint64_t v;

	if (!strcmp(key, "alerts"))
		return;	/* after the notifiers: see cfg_document */
	if (!strcmp(key, "notifiers")) {
		cfg_each_pair(x, val, "notifiers", cfg_notifier, NULL);
	} else if (!strcmp(key, "quotas")) {
		cfg_quotas(x, val);
	} else if (!strcmp(key, "evaluate_every")) {
		if (cfg_duration(x, val, key, &v))
			return;
		if (v > CFG_MAX_EVALUATE_S)
			cfg_err(x, val, key, "at most %ds",
				CFG_MAX_EVALUATE_S);
		x->cfg->evaluate_every_s = (unsigned)v;
	} else {
		cfg_err(x, knode, key, "unknown key (expected "
			"evaluate_every, notifiers, alerts, quotas)");
	}
}

/* The value of key in map (the first, if given twice), or NULL. */
static yaml_node_t *cfg_get(struct cfg_ctx *x, yaml_node_t *map,
			    const char *key)
{
	yaml_node_pair_t *p;

	for (p = map->data.mapping.pairs.start;
	     p < map->data.mapping.pairs.top; p++) {
		yaml_node_t *k = cfg_node(x, p->key);

		if (k->type == YAML_SCALAR_NODE &&
		    !strcmp((char *)k->data.scalar.value, key))
			return cfg_node(x, p->value);
	}
	return NULL;
}

/* Notifiers are read before rules wherever they stand in the file,
 * since rules name them. */
static void cfg_document(struct cfg_ctx *x)
{
	yaml_node_t *root = yaml_document_get_root_node(x->doc), *rules;

	if (!root)
		return;	/* an empty file: nothing configured */
	if (root->type != YAML_MAPPING_NODE) {
		cfg_err(x, root, "", "the file must be a map with "
			"notifiers and alerts");
		return;
	}
	cfg_each_pair(x, root, "", cfg_top_key, NULL);
	rules = cfg_get(x, root, "alerts");
	if (rules)
		cfg_alerts(x, rules);
	if (rules && config_properties(x->cfg, NULL, SIZE_MAX) >
			     CONFIG_MAX_PROPERTIES)
		cfg_err(x, rules, "alerts", "the rules use more than %d "
			"different property.NAME keys", CONFIG_MAX_PROPERTIES);
}

static void cfg_syntax(struct cfg_ctx *x, yaml_parser_t *p)
{
	char msg[CFG_MSG_LEN];

	const char *ctx = p->context ? p->context : "";

	/* threshold: > 5% reads as a folded block to YAML. */
	snprintf(msg, sizeof(msg), "%s:%zu: YAML syntax: %s%s%s%s", x->name,
		 p->problem_mark.line + 1,
		 p->problem ? p->problem : "cannot parse", ctx[0] ? " " : "",
		 ctx, strstr(ctx, "block scalar") ? " (quote a value that "
		 "starts with > or |, e.g. threshold: \"> 5%\")" : "");
	x->errors++;
	if (x->diag)
		cfg_diag_add(x->diag, p->problem_mark.line + 1, msg);
}

static struct config *cfg_new(const char *name)
{
	struct config *c = calloc(1, sizeof(*c));

	if (!c)
		return NULL;
	c->evaluate_every_s = CONFIG_EVALUATE_DEFAULT_S;
	c->notifiers = calloc(CONFIG_MAX_NOTIFIERS, sizeof(*c->notifiers));
	if (!c->notifiers) {
		free(c);
		return NULL;
	}
	return c;
}

struct config *config_parse(const char *text, size_t len,
			    const char *name, struct config_diag *diag)
{
	struct cfg_ctx x = { .name = name, .diag = diag };
	yaml_parser_t parser;
	yaml_document_t doc;

	x.cfg = cfg_new(name);
	if (!x.cfg || !yaml_parser_initialize(&parser)) {
		config_free(x.cfg);
		return NULL;
	}
	yaml_parser_set_input_string(&parser, (const unsigned char *)text,
				     len);
	if (!yaml_parser_load(&parser, &doc)) {
		cfg_syntax(&x, &parser);
	} else {
		x.doc = &doc;
		cfg_document(&x);
		yaml_document_delete(&doc);
	}
	yaml_parser_delete(&parser);
	x.cfg->path = x.errors ? NULL : strdup(name);
	if (x.errors || !x.cfg->path) {
		config_free(x.cfg);
		return NULL;
	}
	return x.cfg;
}

static void cfg_file_err(struct config_diag *d, const char *path,
			 const char *why)
{
	char msg[CFG_MSG_LEN];

	snprintf(msg, sizeof(msg), "%s: cannot read the configuration: %s",
		 path, why);
	if (d)
		cfg_diag_add(d, 0, msg);
}

/* An exec notifier runs its command as root: a file that someone
 * other than root (or who runs llmtap) could write would let them run
 * anything as root. Checked on the open file, so a swap after the
 * check reads nothing else. */
static int cfg_file_safe(FILE *f, const char *path, struct config_diag *d)
{
	char why[CFG_MSG_LEN], msg[2 * CFG_MSG_LEN];
	struct stat st;

	if (fstat(fileno(f), &st)) {
		cfg_file_err(d, path, strerror(errno));
		return -errno;
	}
	if (!S_ISREG(st.st_mode))
		snprintf(why, sizeof(why), "not a regular file");
	else if (st.st_uid != 0 && st.st_uid != geteuid())
		snprintf(why, sizeof(why), "owned by uid %u, not root or "
			 "uid %u; it can run commands as llmtap's user",
			 (unsigned)st.st_uid, (unsigned)geteuid());
	else if (st.st_mode & (S_IWGRP | S_IWOTH))
		snprintf(why, sizeof(why), "writable by group or others "
			 "(mode %03o); it can run commands as llmtap's user: "
			 "chmod go-w it", (unsigned)(st.st_mode & 0777));
	else
		return 0;
	snprintf(msg, sizeof(msg), "%s: configuration refused: %s", path,
		 why);
	if (d)
		cfg_diag_add(d, 0, msg);
	return -EPERM;
}

struct config *config_load(const char *path, struct config_diag *diag)
{
	struct config *c;
	FILE *f = fopen(path, "re");
	char *buf;
	size_t n;

	if (!f) {
		cfg_file_err(diag, path, strerror(errno));
		return NULL;
	}
	if (cfg_file_safe(f, path, diag)) {
		fclose(f);
		return NULL;
	}
	buf = malloc(CONFIG_MAX_BYTES + 1);
	n = buf ? fread(buf, 1, CONFIG_MAX_BYTES + 1, f) : 0;
	fclose(f);
	if (!buf || n > CONFIG_MAX_BYTES) {
		cfg_file_err(diag, path, buf ? "larger than 1 MiB" :
				   "out of memory");
		free(buf);
		return NULL;
	}
	c = config_parse(buf, n, path, diag);
	free(buf);
	return c;
}

/* --- freeing and comparing ------------------------------------------ */

static void cfg_key_free(struct config_key *k)
{
	free(k->property);
	free(k->text);
}

static void cfg_alert_free(struct config_alert *r)
{
	size_t i;

	for (i = 0; r->where && i < r->n_where; i++) {
		cfg_key_free(&r->where[i].key);
		free(r->where[i].value);
	}
	free(r->where);
	if (r->grouped)
		cfg_key_free(&r->group_by);
	free(r->name);
	free(r->threshold_text);
	free(r->window_text);
	free(r->severity);
	free(r->notify);
}

static void cfg_notifier_free(struct config_notifier *nf)
{
	size_t i;

	free(nf->name);
	free(nf->url);
	free(nf->channel);
	free(nf->smtp_url);
	free(nf->from);
	for (i = 0; i < nf->n_to; i++)
		free(nf->to[i]);
	free(nf->to);
	free(nf->command);
}

void config_free(struct config *c)
{
	size_t i;

	if (!c)
		return;
	for (i = 0; i < c->n_alerts; i++)
		cfg_alert_free(&c->alerts[i]);
	for (i = 0; i < c->n_notifiers; i++)
		cfg_notifier_free(&c->notifiers[i]);
	free(c->alerts);
	free(c->notifiers);
	free(c->quotas);
	free(c->path);
	free(c);
}

static bool cfg_str_eq(const char *a, const char *b)
{
	return a == b || (a && b && !strcmp(a, b));
}

/* Adds k's property to names unless it is there; the new count. */
static size_t cfg_prop_add(const struct config_key *k, const char **names,
			   size_t n, const char **seen, size_t max)
{
	size_t i;

	if (k->attr != CONFIG_ATTR_PROPERTY || !k->property)
		return n;
	for (i = 0; i < n; i++)
		if (!strcmp(seen[i], k->property))
			return n;
	if (names && n < max)
		names[n] = k->property;
	seen[n] = k->property;
	return n + 1;
}

size_t config_properties(const struct config *c, const char **names,
			 size_t max)
{
	const char *seen[CONFIG_MAX_ALERTS * (CONFIG_MAX_LIST + 1)];
	size_t n = 0, i, j;

	for (i = 0; i < c->n_alerts; i++) {
		const struct config_alert *r = &c->alerts[i];

		for (j = 0; j < r->n_where; j++)
			n = cfg_prop_add(&r->where[j].key, names, n, seen,
					 max);
		if (r->grouped)
			n = cfg_prop_add(&r->group_by, names, n, seen, max);
	}
	return n < max ? n : max;
}

bool config_alert_same(const struct config_alert *a,
		       const struct config_alert *b)
{
	size_t i;

	if (!cfg_str_eq(a->name, b->name) || a->metric != b->metric ||
	    a->op != b->op || a->threshold != b->threshold ||
	    a->window_s != b->window_s ||
	    a->min_requests != b->min_requests ||
	    a->grouped != b->grouped || a->n_where != b->n_where)
		return false;
	if (a->grouped && !cfg_str_eq(a->group_by.text, b->group_by.text))
		return false;
	for (i = 0; i < a->n_where; i++)
		if (!cfg_str_eq(a->where[i].key.text, b->where[i].key.text) ||
		    !cfg_str_eq(a->where[i].value, b->where[i].value))
			return false;
	return true;
}
