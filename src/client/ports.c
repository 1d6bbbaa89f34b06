/* SPDX-License-Identifier: Apache-2.0 */
/* ports.c - where a server inside a slot is reached through the daemon's
 * port proxy (API.md "Ports"). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client/client_internal.h"

char *sbc_slot_port_path(const char *slot_id, int port, const char *path,
			 struct sbc_error *err)
{
	char suffix[32];
	if (!sbc_slot_id_ok(slot_id, err))
		return NULL;
	if (port < 1 || port > 65535) {
		sbc_fail(err, 0, "bad_argument", "port %d is not in 1-65535",
			 port);
		return NULL;
	}
	if (!path || !*path)
		path = "/";
	if (*path != '/' && *path != '?') {
		sbc_fail(err, 0, "bad_argument",
			 "the path must start with / or ?");
		return NULL;
	}
	snprintf(suffix, sizeof suffix, "/ports/%d", port);
	char *base = sbc_slot_path(slot_id, suffix, err), *p = NULL;
	if (base &&
	    asprintf(&p, "%s%s%s", base, *path == '?' ? "/" : "", path) < 0) {
		p = NULL;
		sbc_fail(err, 0, "out_of_memory", "out of memory");
	}
	free(base);
	return p;
}

char *sbc_slot_port_url(const struct sbc *c, const char *slot_id, int port,
			const char *path, struct sbc_error *err)
{
	char *p = sbc_slot_port_path(slot_id, port, path, err), *url = NULL;
	if (!p)
		return NULL;
	bool v6 = c->host && strchr(c->host, ':');
	int r = c->host ? asprintf(&url, "http://%s%s%s:%s%s", v6 ? "[" : "",
				   c->host, v6 ? "]" : "", c->port, p)
			: asprintf(&url, "http://localhost%s", p);
	free(p);
	if (r < 0) {
		sbc_fail(err, 0, "out_of_memory", "out of memory");
		return NULL;
	}
	return url;
}
