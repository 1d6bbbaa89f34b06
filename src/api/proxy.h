/* SPDX-License-Identifier: Apache-2.0 */
/* proxy.h - the port proxy: /v1/slots/{id}/ports/{port}/{path...} is an
 * HTTP/1.1 reverse proxy to 127.0.0.1:{port} inside the slot's own network
 * namespace (API.md "Ports"), WebSocket upgrades included. */
#ifndef SLOTBOX_API_PROXY_H
#define SLOTBOX_API_PROXY_H

#include <stdbool.h>

#include "http/http.h"
#include "sandbox/sandbox.h"

/* The http server's takeover predicate: is path a port proxy path? */
bool proxy_is_path(const char *path);

/* Serve a takeover request whose path is the slot's "ports/..." (rest is
 * what follows "ports"): check method, port and lease, connect inside the
 * slot, take the connection over and relay. Answers API errors itself. */
void proxy_start(struct http_request *req, struct sbx_slot *slot, bool stale,
		 const char *rest);

#endif
