/* SPDX-License-Identifier: Apache-2.0 */
/* nodes.c - the nodes of a struct sbcc: found from its endpoints (a host
 * name stands for each of its addresses, as a headless Service's name
 * does for each ready pod), their pools' figures, which are down, and
 * their order for the next acquire (slotbox_cluster.h). */
#include <arpa/inet.h>
#include <math.h>
#include <netdb.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include "client/client_internal.h"
#include "client/cluster_internal.h"

double sbcc_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int append_url(json_t *urls, const char *host, const char *port)
{
	char url[INET6_ADDRSTRLEN + 16];
	snprintf(url, sizeof url,
		 strchr(host, ':') ? "http://[%s]:%s" : "http://%s:%s", host,
		 port);
	for (size_t i = 0; i < json_array_size(urls); i++)
		if (strcmp(json_string_value(json_array_get(urls, i)), url) ==
		    0)
			return 0;
	return json_array_append_new(urls, json_string(url));
}

/* The node URLs endpoint stands for; NULL when its name does not resolve
 * now (or on out of memory). */
static json_t *expand(const char *endpoint)
{
	json_t *urls = json_array();
	if (!urls)
		return NULL;
	if (strncmp(endpoint, "http://", 7) != 0 &&
	    strncmp(endpoint, "tcp://", 6) != 0) {
		json_array_append_new(urls, json_string(endpoint));
		return urls;
	}
	char *host = NULL, *port = NULL;
	if (sbc_url_split(endpoint, &host, &port, NULL) < 0) {
		json_decref(urls);
		return NULL;
	}
	unsigned char addr[sizeof(struct in6_addr)];
	struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *res = NULL;
	if (inet_pton(AF_INET, host, addr) == 1 ||
	    inet_pton(AF_INET6, host, addr) == 1) {
		append_url(urls, host, port);
	} else if (getaddrinfo(host, port, &hints, &res) == 0) {
		for (const struct addrinfo *ai = res; ai; ai = ai->ai_next) {
			char ip[INET6_ADDRSTRLEN];
			if (getnameinfo(ai->ai_addr, ai->ai_addrlen, ip,
					sizeof ip, NULL, 0,
					NI_NUMERICHOST) == 0)
				append_url(urls, ip, port);
		}
		freeaddrinfo(res);
	}
	free(host);
	free(port);
	if (json_array_size(urls) == 0) {
		json_decref(urls);
		return NULL;
	}
	return urls;
}

/* Call with the lock held. */
static struct sbcc_node *find(const struct sbcc *cc, const char *url)
{
	for (size_t i = 0; i < cc->n_nodes; i++)
		if (strcmp(cc->nodes[i]->url, url) == 0)
			return cc->nodes[i];
	return NULL;
}

void sbcc_node_free(struct sbcc_node *n)
{
	if (!n)
		return;
	for (size_t i = 0; i < n->n_idle; i++)
		sbc_close(n->idle[i]);
	free(n->idle);
	json_decref(n->pools);
	json_decref(n->taken);
	free(n->default_profile);
	free(n->url);
	free(n);
}

/* Call with the lock held. */
static int add_node(struct sbcc *cc, const char *url, struct sbc_error *err)
{
	struct sbcc_node **grown = realloc(
		cc->nodes, (cc->n_nodes + 1) * sizeof(struct sbcc_node *));
	if (!grown)
		return sbc_fail(err, 0, "out_of_memory", "out of memory");
	cc->nodes = grown;
	struct sbcc_node *n = calloc(1, sizeof *n);
	if (n) {
		n->url = strdup(url);
		n->taken = json_object();
		n->index = cc->n_nodes;
	}
	if (!n || !n->url || !n->taken) {
		sbcc_node_free(n);
		return sbc_fail(err, 0, "out_of_memory", "out of memory");
	}
	cc->nodes[cc->n_nodes++] = n;
	return 0;
}

static bool named_now(const struct sbcc *cc, const char *url)
{
	const char *key;
	json_t *urls;
	json_object_foreach(cc->named, key, urls)
	{
		for (size_t i = 0; i < json_array_size(urls); i++)
			if (strcmp(json_string_value(json_array_get(urls, i)),
				   url) == 0)
				return true;
	}
	return false;
}

int sbcc_nodes_resolve(struct sbcc *cc, struct sbc_error *err)
{
	/* the lookups themselves run without the lock */
	json_t *found = json_object();
	if (!found)
		return sbc_fail(err, 0, "out_of_memory", "out of memory");
	for (size_t e = 0; e < cc->n_endpoints; e++) {
		json_t *urls = expand(cc->endpoints[e]);
		if (urls)
			json_object_set_new(found, cc->endpoints[e], urls);
	}
	pthread_mutex_lock(&cc->lock);
	json_object_update(cc->named, found);
	json_decref(found);
	int rc = 0;
	const char *key;
	json_t *urls;
	json_object_foreach(cc->named, key, urls)
	{
		for (size_t i = 0; i < json_array_size(urls) && rc == 0; i++) {
			const char *url =
				json_string_value(json_array_get(urls, i));
			if (!find(cc, url))
				rc = add_node(cc, url, err);
		}
	}
	for (size_t i = 0; i < cc->n_nodes; i++)
		cc->nodes[i]->listed = named_now(cc, cc->nodes[i]->url);
	cc->resolved_at = sbcc_now();
	pthread_mutex_unlock(&cc->lock);
	return rc;
}

void sbcc_nodes_maybe_resolve(struct sbcc *cc)
{
	pthread_mutex_lock(&cc->lock);
	bool due = sbcc_now() - cc->resolved_at >= cc->resolve_ttl_s;
	pthread_mutex_unlock(&cc->lock);
	if (due)
		(void)sbcc_nodes_resolve(cc, NULL);
}

struct sbcc_node **sbcc_nodes_list(struct sbcc *cc, bool all, size_t *n)
{
	*n = 0;
	pthread_mutex_lock(&cc->lock);
	struct sbcc_node **out = calloc(cc->n_nodes ? cc->n_nodes : 1,
					sizeof(struct sbcc_node *));
	for (size_t i = 0; out && i < cc->n_nodes; i++)
		if (all || cc->nodes[i]->listed)
			out[(*n)++] = cc->nodes[i];
	pthread_mutex_unlock(&cc->lock);
	return out;
}

struct sbcc_node *sbcc_node_at(struct sbcc *cc, size_t index)
{
	pthread_mutex_lock(&cc->lock);
	struct sbcc_node *n = index < cc->n_nodes ? cc->nodes[index] : NULL;
	pthread_mutex_unlock(&cc->lock);
	return n;
}

struct sbc *sbcc_node_borrow(struct sbcc *cc, struct sbcc_node *n,
			     struct sbc_error *err)
{
	pthread_mutex_lock(&cc->lock);
	struct sbc *c = n->n_idle ? n->idle[--n->n_idle] : NULL;
	pthread_mutex_unlock(&cc->lock);
	if (c)
		return c;
	struct sbc_options o = cc->conn_opt;
	if (strncmp(n->url, "http://", 7) == 0)
		o.url = n->url;
	else
		o.socket_path = n->url;
	return sbc_new(&o, err);
}

/* Idle connections kept per node; more are closed when given back. */
#define MAX_IDLE 64

void sbcc_node_put(struct sbcc *cc, struct sbcc_node *n, struct sbc *conn)
{
	if (!conn)
		return;
	pthread_mutex_lock(&cc->lock);
	if (!n->idle)
		n->idle = calloc(MAX_IDLE, sizeof(struct sbc *));
	if (n->idle && n->n_idle < MAX_IDLE) {
		n->idle[n->n_idle++] = conn;
		conn = NULL;
	}
	pthread_mutex_unlock(&cc->lock);
	sbc_close(conn);
}

bool sbcc_node_error(const struct sbc_error *err)
{
	return err->http_status == 0 &&
	       (strcmp(err->code, "connect_failed") == 0 ||
		strcmp(err->code, "io") == 0 ||
		strcmp(err->code, "protocol") == 0);
}

static bool is_down(const struct sbcc_node *n, double now)
{
	return n->down_until > now;
}

void sbcc_node_failed(struct sbcc *cc, struct sbcc_node *n)
{
	pthread_mutex_lock(&cc->lock);
	n->fails++;
	int doublings = n->fails - 1 < 10 ? n->fails - 1 : 10;
	double wait = cc->down_s * (double)(1 << doublings);
	n->down_until = sbcc_now() + (wait < 30 ? wait : 30);
	json_decref(n->pools);
	n->pools = NULL;
	/* its idle connections are likely dead too: the next call connects
	 * afresh (bounded by connect_timeout_s) instead of waiting for a
	 * stale one to time out */
	struct sbc **idle = n->idle;
	size_t n_idle = n->n_idle;
	n->idle = NULL;
	n->n_idle = 0;
	pthread_mutex_unlock(&cc->lock);
	for (size_t i = 0; i < n_idle; i++)
		sbc_close(idle[i]);
	free(idle);
}

void sbcc_node_set_status(struct sbcc *cc, struct sbcc_node *n, json_t *status)
{
	json_t *pools = json_deep_copy(json_object_get(status, "pools"));
	const char *def =
		json_string_value(json_object_get(status, "default_profile"));
	char *def_copy = def ? strdup(def) : NULL;
	pthread_mutex_lock(&cc->lock);
	json_decref(n->pools);
	n->pools = json_is_object(pools) ? pools : json_object();
	if (!json_is_object(pools))
		json_decref(pools);
	free(n->default_profile);
	n->default_profile = def_copy;
	json_object_clear(n->taken);
	n->fails = 0;
	n->down_until = 0;
	pthread_mutex_unlock(&cc->lock);
}

int sbcc_node_ask(struct sbcc *cc, struct sbcc_node *n, const char *path,
		  json_t **out, struct sbc_error *err)
{
	struct sbc *c = sbcc_node_borrow(cc, n, err);
	if (!c)
		return -1;
	double io = c->io_timeout_s;
	c->io_timeout_s = cc->conn_opt.connect_timeout_s;
	int rc = sbc_request_json(c, "GET", path, NULL, out, err);
	c->io_timeout_s = io;
	sbcc_node_put(cc, n, c);
	return rc;
}

json_t *sbcc_node_read_status(struct sbcc *cc, struct sbcc_node *n,
			      struct sbc_error *err)
{
	json_t *st = NULL;
	int rc = sbcc_node_ask(cc, n, "/v1/status", &st, err);
	if (rc == 0)
		sbcc_node_set_status(cc, n, st);
	else if (sbcc_node_error(err))
		sbcc_node_failed(cc, n);
	return st;
}

void sbcc_nodes_refresh(struct sbcc *cc)
{
	pthread_mutex_lock(&cc->lock);
	double now = sbcc_now();
	bool due = !cc->refreshing && now - cc->status_at >= cc->status_ttl_s;
	cc->refreshing |= due;
	size_t n = 0;
	struct sbcc_node **todo = due ? calloc(cc->n_nodes ? cc->n_nodes : 1,
					       sizeof(struct sbcc_node *))
				      : NULL;
	for (size_t i = 0; todo && i < cc->n_nodes; i++)
		if (cc->nodes[i]->listed && !is_down(cc->nodes[i], now))
			todo[n++] = cc->nodes[i];
	pthread_mutex_unlock(&cc->lock);
	if (!due)
		return;
	for (size_t i = 0; i < n; i++) {
		struct sbc_error err = {0};
		json_decref(sbcc_node_read_status(cc, todo[i], &err));
	}
	free(todo);
	pthread_mutex_lock(&cc->lock);
	cc->status_at = sbcc_now();
	cc->refreshing = false;
	pthread_mutex_unlock(&cc->lock);
}

static long long field(json_t *pool, const char *key)
{
	return json_integer_value(json_object_get(pool, key));
}

/* Slots the profile can still lease on n: free now or in sandboxes the
 * pool may still start, less the waiters and this client's own leases
 * since the figures. 0 when unknown (ranks after nodes with room, before
 * full ones); -inf when n does not serve the profile. Lock held. */
static double room(const struct sbcc_node *n, const char *profile)
{
	const char *name = profile ? profile : n->default_profile;
	if (!n->pools || !name)
		return 0;
	json_t *p = json_object_get(n->pools, name);
	if (!p)
		return -INFINITY;
	long long r =
		field(p, "max_sandboxes") * field(p, "slots_per_sandbox") -
		field(p, "leased_slots") - field(p, "waiters") -
		json_integer_value(json_object_get(n->taken, name));
	return (double)r;
}

bool sbcc_node_may_have_room(struct sbcc *cc, struct sbcc_node *n,
			     const char *profile)
{
	pthread_mutex_lock(&cc->lock);
	bool may = !n->pools || room(n, profile) > 0;
	pthread_mutex_unlock(&cc->lock);
	return may;
}

void sbcc_node_take(struct sbcc *cc, struct sbcc_node *n, const char *profile,
		    int delta)
{
	pthread_mutex_lock(&cc->lock);
	const char *name = profile ? profile : n->default_profile;
	if (name) {
		json_int_t now =
			json_integer_value(json_object_get(n->taken, name));
		json_object_set_new(n->taken, name, json_integer(now + delta));
	}
	pthread_mutex_unlock(&cc->lock);
}

static double next_random(struct sbcc *cc)
{
	cc->rng ^= cc->rng << 13;
	cc->rng ^= cc->rng >> 7;
	cc->rng ^= cc->rng << 17;
	return (double)(cc->rng >> 11) / 9007199254740992.0;
}

/* Each node with its room, computed once before sorting. */
struct ranked {
	struct sbcc_node *n;
	double room;
};

static int by_room(const void *a, const void *b)
{
	const struct ranked *x = a, *y = b;
	if (x->room != y->room)
		return x->room > y->room ? -1 : 1;
	if (x->n->placed != y->n->placed)
		return x->n->placed < y->n->placed ? -1 : 1;
	return x->n->rank_key < y->n->rank_key ? -1 : 1;
}

static int by_return(const void *a, const void *b)
{
	const struct ranked *x = a, *y = b;
	if (x->n->down_until != y->n->down_until)
		return x->n->down_until < y->n->down_until ? -1 : 1;
	return x->n->rank_key < y->n->rank_key ? -1 : 1;
}

struct sbcc_node **sbcc_nodes_ranked(struct sbcc *cc, const char *profile,
				     size_t *count, size_t *n_up)
{
	*count = *n_up = 0;
	pthread_mutex_lock(&cc->lock);
	size_t total = cc->n_nodes;
	struct ranked *r = calloc(total ? total : 1, sizeof *r);
	struct sbcc_node **out =
		calloc(total ? total : 1, sizeof(struct sbcc_node *));
	if (!r || !out) {
		pthread_mutex_unlock(&cc->lock);
		free(r);
		free(out);
		return NULL;
	}
	double now = sbcc_now();
	size_t up = 0, down = total;
	for (size_t i = 0; i < total; i++) {
		struct sbcc_node *n = cc->nodes[i];
		if (!n->listed)
			continue;
		n->rank_key = next_random(cc);
		if (is_down(n, now))
			r[--down] = (struct ranked){n, 0};
		else
			r[up++] = (struct ranked){n, room(n, profile)};
	}
	qsort(r, up, sizeof *r, by_room);
	qsort(r + down, total - down, sizeof *r, by_return);
	pthread_mutex_unlock(&cc->lock);
	for (size_t i = 0; i < up; i++)
		out[(*count)++] = r[i].n;
	for (size_t i = down; i < total; i++)
		out[(*count)++] = r[i].n;
	*n_up = up;
	free(r);
	return out;
}
