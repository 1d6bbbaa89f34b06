/* SPDX-License-Identifier: Apache-2.0 */
/* cluster_internal.h - the nodes of a struct sbcc (cluster.c,
 * cluster_pool.c), found, ranked and connected to by nodes.c. Never
 * installed. */
#ifndef SLOTBOX_CLUSTER_INTERNAL_H
#define SLOTBOX_CLUSTER_INTERNAL_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#include "client/slotbox_cluster.h"

/* One slotboxd. Nodes are never removed before sbcc_close (so pointers to
 * them stay valid): one that discovery no longer names takes no new
 * leases but still serves the slots it holds. Every field but url and
 * index is guarded by the client's lock. */
struct sbcc_node {
	char *url; /* "http://IP:PORT" or a unix socket path */
	size_t index;
	struct sbc **idle; /* connections no thread is using */
	size_t n_idle;
	bool listed;   /* still named by discovery */
	json_t *pools; /* its last /v1/status "pools"; NULL: unknown */
	char *default_profile;
	json_t *taken; /* profile -> leases this client took (+) or
			* ended (-) here since those figures */
	long placed;   /* leases this client made here, ever */
	int fails;     /* failures in a row */
	double down_until;
	double rank_key; /* random order among exact ties */
};

struct sbcc {
	/* Held for bookkeeping only, never across a request. */
	pthread_mutex_t lock;
	char **endpoints; /* as given, split at commas */
	size_t n_endpoints;
	json_t *named; /* endpoint -> [urls] of its last lookup */
	struct sbcc_node **nodes;
	size_t n_nodes;
	struct sbc_options conn_opt; /* for every node's connections */
	double status_ttl_s, resolve_ttl_s, down_s, probe_wait_s;
	double resolved_at, status_at;
	bool refreshing;   /* a thread is reading the figures */
	json_t *slots;	   /* slot id -> [node index, profile, counted] */
	json_t *snapshots; /* snapshot name -> node index */
	json_t *acquire_timeouts; /* profile ("" default) -> seconds */
	unsigned long long rng;	  /* xorshift state for tie order */
};

double sbcc_now(void);

/* ---- nodes.c: each takes the lock itself ---- */

/* Look every endpoint up again. A name that does not resolve keeps its
 * last addresses (a DNS hiccup). Fails only on out of memory. */
int sbcc_nodes_resolve(struct sbcc *cc, struct sbc_error *err);
void sbcc_nodes_maybe_resolve(struct sbcc *cc);
/* Every listed node's /v1/status, at most every status_ttl_s, by one
 * thread (the others go on with the figures they have); nodes marked
 * down are left alone until their time is up. */
void sbcc_nodes_refresh(struct sbcc *cc);
/* GET path on n into *out (may be NULL), bounded by the connect timeout:
 * a node that stopped answering must not hold the caller. As
 * sbc_request_json. */
int sbcc_node_ask(struct sbcc *cc, struct sbcc_node *n, const char *path,
		  json_t **out, struct sbc_error *err);
/* GET /v1/status on n (owned), asked as above. Its figures are kept; a
 * node that cannot be reached is marked down. NULL with err. */
json_t *sbcc_node_read_status(struct sbcc *cc, struct sbcc_node *n,
			      struct sbc_error *err);
/* Listed nodes, up ones best first for profile (NULL: default), then down
 * ones soonest back first; *n_up of them are up. Owned array (free()). */
struct sbcc_node **sbcc_nodes_ranked(struct sbcc *cc, const char *profile,
				     size_t *n, size_t *n_up);
/* The listed nodes (all: also the unlisted), owned array. */
struct sbcc_node **sbcc_nodes_list(struct sbcc *cc, bool all, size_t *n);
struct sbcc_node *sbcc_node_at(struct sbcc *cc, size_t index);

/* A connection to n: an idle one, or a new one (connects on first use).
 * Give it back with sbcc_node_put. */
struct sbc *sbcc_node_borrow(struct sbcc *cc, struct sbcc_node *n,
			     struct sbc_error *err);
void sbcc_node_put(struct sbcc *cc, struct sbcc_node *n, struct sbc *conn);

/* Unreachable: skip it for acquires a while, forget its figures. */
void sbcc_node_failed(struct sbcc *cc, struct sbcc_node *n);
void sbcc_node_set_status(struct sbcc *cc, struct sbcc_node *n, json_t *status);
/* False only when n's figures say profile has no slot left there. */
bool sbcc_node_may_have_room(struct sbcc *cc, struct sbcc_node *n,
			     const char *profile);
/* Count a lease of profile (NULL: n's default) taken (+1) or ended. */
void sbcc_node_take(struct sbcc *cc, struct sbcc_node *n, const char *profile,
		    int delta);
void sbcc_node_free(struct sbcc_node *n);

/* err came from a node that cannot be reached (not from its answer). */
bool sbcc_node_error(const struct sbc_error *err);

/* ---- cluster.c ---- */

/* Remember that n holds slot_id. counted: a lease this client took (of
 * profile, may be NULL), placed on n, and taken off n's figures when it
 * ends. */
void sbcc_remember(struct sbcc *cc, const char *slot_id, struct sbcc_node *n,
		   const char *profile, bool counted);

#endif
