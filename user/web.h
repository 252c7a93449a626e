/* SPDX-License-Identifier: MIT */
/*
 * The web dashboard's files, built into the binary from user/web/ by
 * tools/web-assets.sh (build/web_assets.c), so the daemon serves it
 * offline with nothing installed beside it:
 *
 *   GET /               index.html
 *   GET /assets/NAME    user/web/NAME
 */
#ifndef LLMTAP_WEB_H
#define LLMTAP_WEB_H

#include <stddef.h>

#define WEB_ASSETS_PREFIX "/assets/"
/* The pages load scripts, styles, data and images from the daemon
 * alone: no inline code, no other origin, no framing. */
#define WEB_CSP                                                        \
	"default-src 'self'; img-src 'self' data:; object-src 'none'; " \
	"base-uri 'none'; form-action 'self'; frame-ancestors 'none'"

/* One file, as the generated table holds it. */
struct web_file {
	const char *name;
	const unsigned char *data;
	size_t len;
};

extern const struct web_file web_files[];
extern const unsigned web_nfiles;

struct web_asset {
	const unsigned char *data;
	size_t len;
	const char *type;	/* Content-Type */
};

/* Whether a URL path is the dashboard's ("/" or under /assets/). */
int web_is_path(const char *url);
/* The file a URL path names: 0, or -ENOENT. */
int web_find(const char *url, struct web_asset *out);

#endif /* LLMTAP_WEB_H */
