// SPDX-License-Identifier: MIT
/* libFuzzer target: the YAML configuration loader (user/config.c).
 * The input is the file's text; a config comes back, or diagnostics,
 * never both missing. config_parse_duration gets the input too. */
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "fuzz.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	fz_quiet();
	return 0;
}

static void fz_duration(const uint8_t *data, size_t size)
{
	char s[64];
	uint64_t v;

	if (size >= sizeof(s))
		size = sizeof(s) - 1;
	memcpy(s, data, size);
	s[size] = 0;
	config_parse_duration(s, &v);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct config_diag diag = { 0 };
	struct config *c;

	if (size > CONFIG_MAX_BYTES)
		return 0;
	c = config_parse((const char *)data, size, "fuzz.yaml", &diag);
	if (!c && diag.n == 0)
		abort();
	for (size_t i = 0; i < diag.n; i++)
		if (!diag.msgs[i])
			abort();
	for (size_t i = 0; c && i < c->n_alerts; i++)
		config_alert_same(&c->alerts[i], &c->alerts[0]);
	config_free(c);
	config_diag_clear(&diag);
	fz_duration(data, size);
	return 0;
}
