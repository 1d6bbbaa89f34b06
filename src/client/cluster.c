/* SPDX-License-Identifier: Apache-2.0 */
/* cluster.c - libslotbox over many slotboxd nodes: acquires placed where
 * there is room, every later call sent to the slot's node, a node that
 * cannot be reached failing only its own slots (slotbox_cluster.h). */
#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client/client_internal.h"
#include "client/cluster_internal.h"

static double or_default(double v, double def)
{
	return v > 0 ? v : def;
}

/* Split the comma-separated list, each entry trimmed, and check each. */
static int split_endpoints(struct sbcc *cc, const char *list,
			   struct sbc_error *err)
{
	const char *p = list;
	while (*p) {
		size_t len = strcspn(p, ",");
		const char *s = p, *e = p + len;
		p = *e ? e + 1 : e;
		while (s < e && (*s == ' ' || *s == '\t'))
			s++;
		while (e > s && (e[-1] == ' ' || e[-1] == '\t'))
			e--;
		if (s == e)
			continue;
		char **grown = realloc(cc->endpoints,
				       (cc->n_endpoints + 1) * sizeof *grown);
		char *one = strndup(s, (size_t)(e - s));
		if (grown)
			cc->endpoints = grown;
		if (!grown || !one) {
			free(one);
			return sbc_fail(err, 0, "out_of_memory",
					"out of memory");
		}
		cc->endpoints[cc->n_endpoints++] = one;
		char *host = NULL, *port = NULL;
		if (strstr(one, "://") && strncmp(one, "unix://", 7) != 0 &&
		    sbc_url_split(one, &host, &port, err) < 0)
			return -1;
		free(host);
		free(port);
	}
	if (!cc->n_endpoints)
		return sbc_fail(err, 0, "bad_argument",
				"no slotbox endpoint in \"%s\"", list);
	return 0;
}

static const char *default_endpoints(void)
{
	const char *url = getenv("SLOTBOX_URL"),
		   *sock = getenv("SLOTBOX_SOCKET");
	if (url && *url)
		return url;
	return sock && *sock ? sock : SBC_DEFAULT_SOCKET;
}

struct sbcc *sbcc_open(const struct sbcc_options *opt, struct sbc_error *err)
{
	struct sbcc_options none = {0};
	if (!opt)
		opt = &none;
	struct sbcc *cc = calloc(1, sizeof *cc);
	if (!cc) {
		sbc_fail(err, 0, "out_of_memory", "out of memory");
		return NULL;
	}
	pthread_mutex_init(&cc->lock, NULL);
	cc->conn_opt = (struct sbc_options){
		.token = opt->token,
		.io_timeout_s = opt->io_timeout_s,
		.connect_timeout_s = or_default(opt->connect_timeout_s, 3),
		.max_response_bytes = opt->max_response_bytes,
		.cancel = opt->cancel,
	};
	cc->status_ttl_s = or_default(opt->status_ttl_s, 0.5);
	cc->resolve_ttl_s = or_default(opt->resolve_ttl_s, 30);
	cc->down_s = or_default(opt->down_s, 1);
	cc->probe_wait_s = or_default(opt->probe_wait_s, 1);
	cc->status_at = -INFINITY;
	cc->rng = ((unsigned long long)(sbcc_now() * 1e9) ^
		   (unsigned long long)(uintptr_t)cc) |
		  1;
	cc->named = json_object();
	cc->slots = json_object();
	cc->snapshots = json_object();
	cc->acquire_timeouts = json_object();
	int rc = -1;
	if ((opt->token && !(cc->conn_opt.token = strdup(opt->token))) ||
	    !cc->named || !cc->slots || !cc->snapshots || !cc->acquire_timeouts)
		sbc_fail(err, 0, "out_of_memory", "out of memory");
	else if (split_endpoints(cc,
				 opt->endpoints ? opt->endpoints
						: default_endpoints(),
				 err) == 0)
		rc = sbcc_nodes_resolve(cc, err);
	if (rc < 0) {
		sbcc_close(cc);
		return NULL;
	}
	return cc;
}

void sbcc_close(struct sbcc *cc)
{
	if (!cc)
		return;
	for (size_t i = 0; i < cc->n_endpoints; i++)
		free(cc->endpoints[i]);
	free(cc->endpoints);
	for (size_t i = 0; i < cc->n_nodes; i++)
		sbcc_node_free(cc->nodes[i]);
	free(cc->nodes);
	free((char *)cc->conn_opt.token);
	json_decref(cc->named);
	json_decref(cc->slots);
	json_decref(cc->snapshots);
	json_decref(cc->acquire_timeouts);
	pthread_mutex_destroy(&cc->lock);
	free(cc);
}

size_t sbcc_nodes(struct sbcc *cc, const char **urls, size_t max)
{
	sbcc_nodes_maybe_resolve(cc);
	size_t n = 0;
	struct sbcc_node **listed = sbcc_nodes_list(cc, false, &n);
	for (size_t i = 0; listed && i < n && i < max; i++)
		urls[i] = listed[i]->url;
	free(listed);
	return n;
}

void sbcc_resolve(struct sbcc *cc)
{
	(void)sbcc_nodes_resolve(cc, NULL);
}

/* ---- which node holds a slot -------------------------------------------- */

void sbcc_remember(struct sbcc *cc, const char *slot_id, struct sbcc_node *n,
		   const char *profile, bool counted)
{
	json_t *entry =
		json_pack("[I, s?, b]", (json_int_t)n->index, profile, counted);
	pthread_mutex_lock(&cc->lock);
	json_object_set_new(cc->slots, slot_id, entry);
	if (counted)
		n->placed++;
	pthread_mutex_unlock(&cc->lock);
}

/* The node cc->slots says holds slot_id, or NULL. */
static struct sbcc_node *known_node(struct sbcc *cc, const char *slot_id)
{
	pthread_mutex_lock(&cc->lock);
	json_t *index = json_array_get(json_object_get(cc->slots, slot_id), 0);
	json_int_t i = json_is_integer(index) ? json_integer_value(index) : -1;
	pthread_mutex_unlock(&cc->lock);
	return i >= 0 ? sbcc_node_at(cc, (size_t)i) : NULL;
}

/* Does n know slot (path: its /v1/slots/{id})? 200, or 409
 * slot_not_leased once the lease ended. */
static bool knows(struct sbcc *cc, struct sbcc_node *n, const char *path)
{
	struct sbc_error e = {0};
	return sbcc_node_ask(cc, n, path, NULL, &e) == 0 ||
	       strcmp(e.code, "slot_not_leased") == 0;
}

/* A slot id this client did not lease: ask every node. */
static struct sbcc_node *locate(struct sbcc *cc, const char *slot_id,
				struct sbc_error *err)
{
	char *path = sbc_slot_path(slot_id, "", err);
	if (!path)
		return NULL;
	size_t n = 0;
	struct sbcc_node **nodes = sbcc_nodes_list(cc, false, &n),
			 *found = NULL;
	for (size_t i = 0; nodes && i < n && !found; i++)
		if (knows(cc, nodes[i], path))
			found = nodes[i];
	free(nodes);
	free(path);
	if (!found) {
		sbc_fail(err, 409, "slot_not_leased", "no node knows slot %s",
			 slot_id);
		return NULL;
	}
	sbcc_remember(cc, slot_id, found, NULL, false);
	return found;
}

/* The node holding slot_id: known, or found. */
static struct sbcc_node *slot_node(struct sbcc *cc, const char *slot_id,
				   struct sbc_error *err)
{
	if (!sbc_slot_id_ok(slot_id, err))
		return NULL;
	struct sbcc_node *n = known_node(cc, slot_id);
	return n ? n : locate(cc, slot_id, err);
}

/* A call on a slot: its node, a connection to it, and where its error
 * goes (the caller's, or ours when the caller gave none: a lost node is
 * told from the error). */
struct call {
	struct sbcc_node *n;
	struct sbc *conn;
	struct sbc_error *err, local;
};

static int call_begin(struct sbcc *cc, const char *slot_id, struct call *k,
		      struct sbc_error *err)
{
	*k = (struct call){.err = err ? err : &k->local};
	k->n = slot_node(cc, slot_id, k->err);
	if (k->n)
		k->conn = sbcc_node_borrow(cc, k->n, k->err);
	return k->conn ? 0 : -1;
}

/* The connection back; rc of the call, where a node that cannot be
 * reached has lost the slot. */
static int call_end(struct sbcc *cc, struct call *k, int rc)
{
	struct sbc_error *err = k->err;
	sbcc_node_put(cc, k->n, k->conn);
	if (rc == 0 || !sbcc_node_error(err))
		return rc;
	char why[sizeof err->message];
	snprintf(why, sizeof why, "%s", err->message);
	sbcc_node_failed(cc, k->n);
	return sbc_fail(err, 502, "sandbox_lost",
			"node %s cannot be reached (%s)", k->n->url, why);
}

const char *sbcc_slot_endpoint(struct sbcc *cc, const char *slot_id,
			       struct sbc_error *err)
{
	struct sbcc_node *n = slot_node(cc, slot_id, err);
	return n ? n->url : NULL;
}

int sbcc_call(struct sbcc *cc, const char *slot_id,
	      int (*fn)(struct sbc *conn, void *arg, struct sbc_error *err),
	      void *arg, struct sbc_error *err)
{
	struct call k;
	if (call_begin(cc, slot_id, &k, err) < 0)
		return -1;
	return call_end(cc, &k, fn(k.conn, arg, k.err));
}

/* ---- calls on a slot ---- */

int sbcc_release(struct sbcc *cc, const char *slot_id, bool reset,
		 struct sbc_error *err)
{
	struct call k;
	if (call_begin(cc, slot_id, &k, err) < 0)
		return -1;
	int rc = call_end(cc, &k, sbc_release(k.conn, slot_id, reset, k.err));
	/* ended either way: released, already gone, or its node is lost */
	pthread_mutex_lock(&cc->lock);
	json_t *entry = json_object_get(cc->slots, slot_id);
	bool counted = json_is_true(json_array_get(entry, 2));
	const char *p = json_string_value(json_array_get(entry, 1));
	char *profile = p ? strdup(p) : NULL;
	json_object_del(cc->slots, slot_id);
	pthread_mutex_unlock(&cc->lock);
	if (counted)
		sbcc_node_take(cc, k.n, profile, -1);
	free(profile);
	return rc;
}

int sbcc_renew(struct sbcc *cc, const char *slot_id, double ttl_s,
	       struct sbc_error *err)
{
	struct call k;
	if (call_begin(cc, slot_id, &k, err) < 0)
		return -1;
	return call_end(cc, &k, sbc_renew(k.conn, slot_id, ttl_s, k.err));
}

int sbcc_bash(struct sbcc *cc, const char *slot_id, const struct sbc_bash *req,
	      struct sbc_exec_result *out, struct sbc_error *err)
{
	memset(out, 0, sizeof *out);
	struct call k;
	if (call_begin(cc, slot_id, &k, err) < 0)
		return -1;
	return call_end(cc, &k, sbc_bash(k.conn, slot_id, req, out, k.err));
}

int sbcc_read_file(struct sbcc *cc, const char *slot_id, const char *path,
		   size_t max_bytes, char **data, size_t *len, bool *truncated,
		   struct sbc_error *err)
{
	*data = NULL;
	*len = 0;
	struct call k;
	if (call_begin(cc, slot_id, &k, err) < 0)
		return -1;
	return call_end(cc, &k,
			sbc_read_file(k.conn, slot_id, path, max_bytes, data,
				      len, truncated, k.err));
}

int sbcc_write_file(struct sbcc *cc, const char *slot_id, const char *path,
		    const void *data, size_t len, struct sbc_error *err)
{
	struct call k;
	if (call_begin(cc, slot_id, &k, err) < 0)
		return -1;
	return call_end(
		cc, &k,
		sbc_write_file(k.conn, slot_id, path, data, len, k.err));
}

int sbcc_fork(struct sbcc *cc, const char *slot_id, int count,
	      const char *const *trajectory_ids, double ttl_s,
	      struct sbc_slot **out, struct sbc_error *err)
{
	*out = NULL;
	struct call k;
	if (call_begin(cc, slot_id, &k, err) < 0 ||
	    call_end(cc, &k,
		     sbc_fork(k.conn, slot_id, count, trajectory_ids, ttl_s,
			      out, k.err)) < 0)
		return -1;
	for (int i = 0; i < count; i++) {
		struct sbc_slot *s = &(*out)[i];
		s->endpoint = strdup(k.n->url);
		sbcc_node_take(cc, k.n, s->profile, +1);
		sbcc_remember(cc, s->slot_id, k.n, s->profile, true);
	}
	return 0;
}

int sbcc_snapshot(struct sbcc *cc, const char *slot_id, const char *name,
		  json_t **meta, struct sbc_error *err)
{
	if (meta)
		*meta = NULL;
	struct call k;
	if (call_begin(cc, slot_id, &k, err) < 0 ||
	    call_end(cc, &k, sbc_snapshot(k.conn, slot_id, name, meta, k.err)) <
		    0)
		return -1;
	/* a snapshot lives on the node that took it */
	pthread_mutex_lock(&cc->lock);
	json_object_set_new(cc->snapshots, name,
			    json_integer((json_int_t)k.n->index));
	pthread_mutex_unlock(&cc->lock);
	return 0;
}
