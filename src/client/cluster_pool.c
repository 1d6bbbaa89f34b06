/* SPDX-License-Identifier: Apache-2.0 */
/* cluster_pool.c - a struct sbcc's calls that choose a node: acquires
 * (placed where there is room), snapshots (on the node that has them)
 * and the status of every node summed (slotbox_cluster.h). */
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client/client_internal.h"
#include "client/cluster_internal.h"

/* The profile's acquire_timeout_s, read once from the first node that
 * answers: without a timeout_s it bounds the whole acquire, all nodes
 * together, as on one node. -1 when unknown (then each node's own bound
 * applies to its turn). */
static double acquire_timeout(struct sbcc *cc, const char *profile,
			      struct sbcc_node **nodes, size_t n)
{
	const char *key = profile ? profile : "";
	pthread_mutex_lock(&cc->lock);
	json_t *known = json_object_get(cc->acquire_timeouts, key);
	double s = known ? json_real_value(known) : 0;
	pthread_mutex_unlock(&cc->lock);
	if (known)
		return s;
	for (size_t i = 0; i < n; i++) {
		json_t *doc = NULL;
		struct sbc *c = sbcc_node_borrow(cc, nodes[i], NULL);
		int rc = c ? sbc_profiles(c, &doc, NULL) : -1;
		sbcc_node_put(cc, nodes[i], c);
		if (rc < 0)
			continue;
		const char *name = profile ? profile
					   : json_string_value(json_object_get(
						     doc, "default_profile"));
		json_t *t = json_object_get(
			json_object_get(json_object_get(doc, "profiles"),
					name ? name : ""),
			"acquire_timeout_s");
		s = json_is_number(t) ? json_number_value(t) : -1;
		json_decref(doc);
		pthread_mutex_lock(&cc->lock);
		json_object_set_new(cc->acquire_timeouts, key, json_real(s));
		pthread_mutex_unlock(&cc->lock);
		return s;
	}
	return -1;
}

/* POST /v1/slots on n, counted on n from the moment it is asked. wait >
 * 0 is the daemon's timeout_s, and bounds the client's wait too. */
static int acquire_on(struct sbcc *cc, struct sbcc_node *n, json_t *req,
		      const char *profile, const char *trajectory_id,
		      double wait, double ttl_s, struct sbc_slot *out,
		      struct sbc_error *err)
{
	struct sbc *c = sbcc_node_borrow(cc, n, err);
	if (!c)
		return -1;
	sbcc_node_take(cc, n, profile, +1);
	double io = c->io_timeout_s;
	if (wait > 0)
		c->io_timeout_s = wait + cc->conn_opt.connect_timeout_s + 5;
	int rc = sbc_post_acquire(c, json_deep_copy(req), trajectory_id, wait,
				  ttl_s, out, err);
	c->io_timeout_s = io;
	sbcc_node_put(cc, n, c);
	if (rc == 0 && !(out->endpoint = strdup(n->url))) {
		sbc_slot_free(out);
		rc = sbc_fail(err, 0, "out_of_memory", "out of memory");
	}
	if (rc < 0) {
		sbcc_node_take(cc, n, profile, -1);
		return -1;
	}
	sbcc_remember(cc, out->slot_id, n, profile, true);
	return 0;
}

static struct sbcc_node **snapshot_node(struct sbcc *cc, const char *name,
					size_t *count, struct sbc_error *err);

/* The nodes to try, best first. */
static struct sbcc_node **candidates(struct sbcc *cc, const char *profile,
				     size_t *n, struct sbc_error *err)
{
	sbcc_nodes_maybe_resolve(cc);
	sbcc_nodes_refresh(cc);
	size_t up = 0;
	struct sbcc_node **nodes = sbcc_nodes_ranked(cc, profile, n, &up);
	if (nodes && up == 0) {
		/* every node is down, or none is named: look again */
		free(nodes);
		(void)sbcc_nodes_resolve(cc, NULL);
		nodes = sbcc_nodes_ranked(cc, profile, n, &up);
	}
	if (!nodes)
		sbc_fail(err, 0, "out_of_memory", "out of memory");
	else if (*n == 0)
		sbc_fail(err, 503, "node_unavailable",
			 "no slotbox node found at %s",
			 cc->n_endpoints ? cc->endpoints[0] : "");
	if (!nodes || *n == 0) {
		free(nodes);
		return NULL;
	}
	return nodes;
}

/* First each node with room by its figures gets probe_wait_s in turn (it
 * may have filled up since they were read); then the rest of the time
 * goes to waiting in line, best node first. */
static int place(struct sbcc *cc, struct sbcc_node **nodes, size_t n,
		 json_t *req, const char *profile, const char *trajectory_id,
		 double timeout_s, double ttl_s, struct sbc_slot *out,
		 struct sbc_error *err)
{
	double wait = timeout_s > 0 ? timeout_s
				    : acquire_timeout(cc, profile, nodes, n);
	double deadline = wait > 0 ? sbcc_now() + wait : INFINITY;
	struct sbc_error last = {0};
	sbc_fail(&last, 503, "node_unavailable", "no slotbox node is listed");
	for (int pass = n > 1 ? 0 : 1; pass < 2; pass++) {
		bool probing = pass == 0;
		for (size_t i = 0; i < n; i++) {
			if (probing &&
			    !sbcc_node_may_have_room(cc, nodes[i], profile))
				continue; /* full: wait in line below */
			double left = deadline - sbcc_now();
			if (left <= 0)
				goto out_of_time;
			double w = probing && cc->probe_wait_s < left
					   ? cc->probe_wait_s
					   : left;
			struct sbc_error e = {0};
			if (acquire_on(cc, nodes[i], req, profile,
				       trajectory_id, isinf(w) ? 0 : w, ttl_s,
				       out, &e) == 0)
				return 0;
			if (sbcc_node_error(&e)) {
				sbcc_node_failed(cc, nodes[i]);
				sbc_fail(&last, 503, "node_unavailable",
					 "%s: %s", nodes[i]->url, e.message);
			} else if (strcmp(e.code, "acquire_timeout") == 0 ||
				   e.http_status >= 500) {
				last = e;
			} else { /* the request itself is wrong, or stopped */
				if (err)
					*err = e;
				return -1;
			}
		}
	}
out_of_time:
	if (err)
		*err = last;
	return -1;
}

static int acquire(struct sbcc *cc, const char *profile, const char *snapshot,
		   const char *trajectory_id, double timeout_s, double ttl_s,
		   struct sbc_slot *out, struct sbc_error *err)
{
	memset(out, 0, sizeof *out);
	size_t n = 0;
	struct sbcc_node **nodes =
		snapshot ? snapshot_node(cc, snapshot, &n, err)
			 : candidates(cc, profile, &n, err);
	if (!nodes)
		return -1;
	json_t *req = snapshot ? json_pack("{s:s}", "snapshot", snapshot)
			       : json_object();
	if (req && profile)
		json_object_set_new(req, "profile", json_string(profile));
	int rc = req ? place(cc, nodes, n, req, profile, trajectory_id,
			     timeout_s, ttl_s, out, err)
		     : sbc_fail(err, 0, "out_of_memory", "out of memory");
	json_decref(req);
	free(nodes);
	return rc;
}

int sbcc_acquire(struct sbcc *cc, const char *profile,
		 const char *trajectory_id, double timeout_s, double ttl_s,
		 struct sbc_slot *out, struct sbc_error *err)
{
	return acquire(cc, profile, NULL, trajectory_id, timeout_s, ttl_s, out,
		       err);
}

int sbcc_acquire_snapshot(struct sbcc *cc, const char *snapshot,
			  const char *trajectory_id, double timeout_s,
			  double ttl_s, struct sbc_slot *out,
			  struct sbc_error *err)
{
	if (!sbc_snapshot_named(snapshot, out, err))
		return -1;
	return acquire(cc, NULL, snapshot, trajectory_id, timeout_s, ttl_s, out,
		       err);
}

/* ---- snapshots ------------------------------------------------------------
 */

/* Ask every listed node for its snapshots. */
static void list_snapshots(struct sbcc *cc)
{
	size_t n = 0;
	struct sbcc_node **nodes = sbcc_nodes_list(cc, false, &n);
	for (size_t i = 0; nodes && i < n; i++) {
		json_t *doc = NULL, *s;
		struct sbc *c = sbcc_node_borrow(cc, nodes[i], NULL);
		int rc = c ? sbc_snapshots(c, &doc, NULL) : -1;
		sbcc_node_put(cc, nodes[i], c);
		if (rc < 0)
			continue;
		size_t k;
		pthread_mutex_lock(&cc->lock);
		json_array_foreach(json_object_get(doc, "snapshots"), k, s)
		{
			const char *name =
				json_string_value(json_object_get(s, "name"));
			if (name)
				json_object_set_new(
					cc->snapshots, name,
					json_integer(
						(json_int_t)nodes[i]->index));
		}
		pthread_mutex_unlock(&cc->lock);
		json_decref(doc);
	}
	free(nodes);
}

static json_int_t snapshot_index(struct sbcc *cc, const char *name)
{
	pthread_mutex_lock(&cc->lock);
	json_t *i = json_object_get(cc->snapshots, name);
	json_int_t index = json_is_integer(i) ? json_integer_value(i) : -1;
	pthread_mutex_unlock(&cc->lock);
	return index;
}

/* The node that has snapshot name, as a one-node list (owned). */
static struct sbcc_node **snapshot_node(struct sbcc *cc, const char *name,
					size_t *count, struct sbc_error *err)
{
	*count = 0;
	json_int_t i = snapshot_index(cc, name);
	if (i < 0) {
		list_snapshots(cc);
		i = snapshot_index(cc, name);
	}
	struct sbcc_node *n = i >= 0 ? sbcc_node_at(cc, (size_t)i) : NULL;
	if (!n) {
		sbc_fail(err, 404, "snapshot_not_found",
			 "no node has snapshot %s", name);
		return NULL;
	}
	struct sbcc_node **one = malloc(sizeof(struct sbcc_node *));
	if (!one) {
		sbc_fail(err, 0, "out_of_memory", "out of memory");
		return NULL;
	}
	one[0] = n;
	*count = 1;
	return one;
}

int sbcc_delete_snapshot(struct sbcc *cc, const char *name,
			 struct sbc_error *err)
{
	struct sbc_error local = {0};
	err = err ? err : &local;
	if (!name || !*name)
		return sbc_fail(err, 0, "bad_argument",
				"a snapshot name is required");
	size_t n;
	struct sbcc_node **one = snapshot_node(cc, name, &n, err);
	if (!one)
		return -1;
	struct sbc *c = sbcc_node_borrow(cc, one[0], err);
	int rc = c ? sbc_delete_snapshot(c, name, err) : -1;
	sbcc_node_put(cc, one[0], c);
	if (rc < 0 && sbcc_node_error(err)) {
		char why[sizeof err->message];
		snprintf(why, sizeof why, "%s", err->message);
		rc = sbc_fail(err, 503, "node_unavailable", "%s: %s",
			      one[0]->url, why);
	}
	pthread_mutex_lock(&cc->lock);
	json_object_del(cc->snapshots, name);
	pthread_mutex_unlock(&cc->lock);
	free(one);
	return rc;
}

/* ---- status of every node --------------------------------------------------
 */

/* Add pool's figures into sum: counts add up, slots_per_sandbox is the
 * largest. */
static void add_pool(json_t *sum, json_t *pool)
{
	const char *k;
	json_t *v;
	json_object_foreach(pool, k, v)
	{
		if (!json_is_number(v))
			continue;
		json_t *have = json_object_get(sum, k);
		double a = json_number_value(have), b = json_number_value(v);
		double r = strcmp(k, "slots_per_sandbox") != 0 ? a + b
			   : a > b			       ? a
							       : b;
		json_object_set_new(
			sum, k,
			json_is_integer(v) && (!have || json_is_integer(have))
				? json_integer((json_int_t)r)
				: json_real(r));
	}
}

int sbcc_status(struct sbcc *cc, json_t **out, struct sbc_error *err)
{
	*out = NULL;
	sbcc_nodes_maybe_resolve(cc);
	size_t count = 0;
	struct sbcc_node **nodes = sbcc_nodes_list(cc, false, &count);
	json_t *pools = json_object(), *per_node = json_object(),
	       *def = json_null();
	bool any = false;
	for (size_t i = 0; nodes && pools && per_node && i < count; i++) {
		struct sbc_error e = {0};
		json_t *st = sbcc_node_read_status(cc, nodes[i], &e);
		if (!st) {
			json_object_set_new(
				per_node, nodes[i]->url,
				json_pack("{s:s}", "error", e.message));
			continue;
		}
		any = true;
		if (json_is_null(def) &&
		    json_is_string(json_object_get(st, "default_profile")))
			def = json_incref(
				json_object_get(st, "default_profile"));
		const char *name;
		json_t *p;
		json_object_foreach(json_object_get(st, "pools"), name, p)
		{
			if (!json_object_get(pools, name))
				json_object_set_new(pools, name, json_object());
			add_pool(json_object_get(pools, name), p);
		}
		json_object_set_new(per_node, nodes[i]->url, st);
	}
	bool oom = !nodes || !pools || !per_node;
	free(nodes);
	if (oom || !any) {
		json_decref(pools);
		json_decref(per_node);
		json_decref(def);
		return oom ? sbc_fail(err, 0, "out_of_memory", "out of memory")
			   : sbc_fail(err, 503, "node_unavailable",
				      "no slotbox node answers");
	}
	*out = json_pack("{s:o, s:o, s:o}", "default_profile", def, "pools",
			 pools, "nodes", per_node);
	return *out ? 0 : sbc_fail(err, 0, "out_of_memory", "out of memory");
}
