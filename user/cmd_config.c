// SPDX-License-Identifier: MIT
/* llmtap check-config FILE: every problem of a configuration file. */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "config.h"

static const char check_usage[] =
	"usage: llmtap check-config FILE\n"
	"\n"
	"Checks a configuration file (notifiers and alert rules, see\n"
	"README.md, 'Alerts') the way 'llmtap run --config' and a reload\n"
	"by SIGHUP read it. Prints every problem as FILE:LINE: FIELD:\n"
	"what is wrong, and exits 1 if there is any, else 0.\n";

static void check_summary(const struct config *c)
{
	size_t i, grouped = 0;

	for (i = 0; i < c->n_alerts; i++)
		grouped += c->alerts[i].grouped;
	printf("%s: ok: %zu alert rule%s (%zu grouped), %zu notifier%s, "
	       "evaluated every %us\n", c->path, c->n_alerts,
	       c->n_alerts == 1 ? "" : "s", grouped, c->n_notifiers,
	       c->n_notifiers == 1 ? "" : "s", c->evaluate_every_s);
}

int cmd_check_config(int argc, char **argv)
{
	struct config_diag d = { 0 };
	struct config *c;
	size_t i;

	if (argc == 2 && (!strcmp(argv[1], "-h") ||
			  !strcmp(argv[1], "--help"))) {
		fputs(check_usage, stdout);
		return 0;
	}
	if (argc != 2) {
		fputs(check_usage, stderr);
		return 2;
	}
	c = config_load(argv[1], &d);
	for (i = 0; i < d.n; i++)
		fprintf(stderr, "%s\n", d.msgs[i]);
	if (d.n == CONFIG_MAX_ERRORS)
		fprintf(stderr, "(stopped after %d errors)\n",
			CONFIG_MAX_ERRORS);
	config_diag_clear(&d);
	if (!c)
		return 1;
	check_summary(c);
	config_free(c);
	return 0;
}
