// SPDX-License-Identifier: MIT
/* Looks the dashboard's built-in files up by URL path. */
#include <errno.h>
#include <string.h>

#include "web.h"

struct web_type {
	const char *ext;
	const char *type;
};

static const struct web_type web_types[] = {
	{ ".html", "text/html; charset=utf-8" },
	{ ".js", "text/javascript; charset=utf-8" },
	{ ".css", "text/css; charset=utf-8" },
	{ ".svg", "image/svg+xml" },
	{ ".png", "image/png" },
	{ ".ico", "image/x-icon" },
};

static const char *web_type_of(const char *name)
{
	const char *dot = strrchr(name, '.');
	size_t i;

	for (i = 0; dot && i < sizeof(web_types) / sizeof(web_types[0]);
	     i++)
		if (!strcmp(dot, web_types[i].ext))
			return web_types[i].type;
	return "application/octet-stream";
}

int web_is_path(const char *url)
{
	return !strcmp(url, "/") ||
	       !strncmp(url, WEB_ASSETS_PREFIX, strlen(WEB_ASSETS_PREFIX));
}

int web_find(const char *url, struct web_asset *out)
{
	const char *name;
	unsigned i;

	if (!strcmp(url, "/"))
		name = "index.html";
	else if (web_is_path(url))
		name = url + strlen(WEB_ASSETS_PREFIX);
	else
		return -ENOENT;
	/* Names are plain file names: a path with '/' matches none. */
	for (i = 0; i < web_nfiles; i++) {
		if (strcmp(web_files[i].name, name))
			continue;
		out->data = web_files[i].data;
		out->len = web_files[i].len;
		out->type = web_type_of(name);
		return 0;
	}
	return -ENOENT;
}
