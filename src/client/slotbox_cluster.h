/* SPDX-License-Identifier: Apache-2.0 */
/* slotbox_cluster.h - libslotbox over many slotboxd nodes.
 *
 * A struct sbcc spreads leases over several daemons (one per machine, e.g.
 * a Kubernetes DaemonSet behind a headless Service) and sends every later
 * call for a slot to the node that holds it:
 *
 *   struct sbcc_options o = {.endpoints = "http://slotbox.svc:8390",
 *                            .token = token};
 *   struct sbcc *cc = sbcc_open(&o, &err);
 *   sbcc_acquire(cc, NULL, "traj-1", 0, 600, &slot, &err);
 *   sbcc_bash(cc, slot.slot_id, &(struct sbc_bash){.command = "ls"}, &r,
 *             &err);
 *   sbcc_release(cc, slot.slot_id, true, &err);
 *
 * Placement: an acquire goes to the node with the most room for the
 * profile (max_sandboxes * slots_per_sandbox - leased - waiters, from its
 * GET /v1/status read at most every status_ttl_s, less the leases this
 * client took since), ties to the node this client placed fewest leases
 * on. A node that cannot be reached, has no slot within probe_wait_s or
 * fails (5xx) passes the acquire on to the next; after one such round the
 * rest of the time goes to waiting in line, best node first.
 *
 * Routing: slot ids are the daemons' own. The client remembers which node
 * granted each lease (also in sbc_slot.endpoint); a slot id it never saw
 * is looked for on every node (GET /v1/slots/{id}). A node that cannot be
 * reached fails its own slots' calls with code "sandbox_lost" (status
 * 502) and is skipped for acquires for a while (down_s, doubling up to
 * 30 s); the other nodes go on serving.
 *
 * One struct sbcc serves every thread of a process (calls may run at
 * the same time; each borrows a connection to its node from a small pool
 * per node), and should: acquires made at the same time are counted
 * against the node they went to before the next status arrives, so they
 * spread instead of piling onto the node that looked emptiest.
 *
 * Errors and ownership as in slotbox.h; besides those codes:
 * "node_unavailable" (no node could be reached for an acquire or a
 * pool-wide call) and "sandbox_lost". */
#ifndef SLOTBOX_CLUSTER_H
#define SLOTBOX_CLUSTER_H

#include "slotbox.h"

#ifdef __cplusplus
extern "C" {
#endif

struct sbcc;

struct sbcc_options {
	/* Comma-separated nodes: "http://HOST:PORT" (a host name stands for
	 * every address it resolves to, looked up again every
	 * resolve_ttl_s), "tcp://HOST:PORT" or a unix socket path. NULL:
	 * $SLOTBOX_URL, else $SLOTBOX_SOCKET, else SBC_DEFAULT_SOCKET. */
	const char *endpoints;
	const char *token;	  /* bearer token for TCP nodes */
	double io_timeout_s;	  /* as in sbc_options; 0: none */
	double connect_timeout_s; /* 0: 3 s */
	double status_ttl_s;	  /* 0: 0.5 s */
	double resolve_ttl_s;	  /* 0: 30 s */
	double down_s;		  /* 0: 1 s */
	double probe_wait_s;	  /* 0: 1 s */
	size_t max_response_bytes;
	const volatile int *cancel;
};

/* Checks the endpoints and looks them up; connects lazily. A name that
 * does not resolve yet is no error (acquires look again). NULL with err
 * on a malformed endpoint or out of memory. */
struct sbcc *sbcc_open(const struct sbcc_options *opt, struct sbc_error *err);
void sbcc_close(struct sbcc *cc);

/* The nodes acquires may go to now ("http://IP:PORT" or socket paths):
 * up to max of them into urls (borrowed until sbcc_close; urls may be
 * NULL when max is 0). Returns how many there are. */
size_t sbcc_nodes(struct sbcc *cc, const char **urls, size_t max);
/* Look the endpoints up again now. */
void sbcc_resolve(struct sbcc *cc);

/* As sbc_acquire / sbc_acquire_snapshot, on the best node (a snapshot's:
 * the node that has it). timeout_s bounds the whole call, all nodes
 * together; <= 0 means the profile's acquire_timeout_s. out->endpoint
 * names the node. A node that times out on the client's side may still
 * grant the lease: give ttl_s so that such a lease ends by itself. */
int sbcc_acquire(struct sbcc *cc, const char *profile,
		 const char *trajectory_id, double timeout_s, double ttl_s,
		 struct sbc_slot *out, struct sbc_error *err);
int sbcc_acquire_snapshot(struct sbcc *cc, const char *snapshot,
			  const char *trajectory_id, double timeout_s,
			  double ttl_s, struct sbc_slot *out,
			  struct sbc_error *err);

/* The slotbox.h calls, sent to the node holding slot_id. */
int sbcc_release(struct sbcc *cc, const char *slot_id, bool reset,
		 struct sbc_error *err);
int sbcc_renew(struct sbcc *cc, const char *slot_id, double ttl_s,
	       struct sbc_error *err);
int sbcc_bash(struct sbcc *cc, const char *slot_id, const struct sbc_bash *req,
	      struct sbc_exec_result *out, struct sbc_error *err);
int sbcc_read_file(struct sbcc *cc, const char *slot_id, const char *path,
		   size_t max_bytes, char **data, size_t *len, bool *truncated,
		   struct sbc_error *err);
int sbcc_write_file(struct sbcc *cc, const char *slot_id, const char *path,
		    const void *data, size_t len, struct sbc_error *err);
/* The new slots live on the source's node (the copy is local). */
int sbcc_fork(struct sbcc *cc, const char *slot_id, int count,
	      const char *const *trajectory_ids, double ttl_s,
	      struct sbc_slot **out, struct sbc_error *err);
/* A snapshot lives on the node that took it. */
int sbcc_snapshot(struct sbcc *cc, const char *slot_id, const char *name,
		  json_t **meta, struct sbc_error *err);
int sbcc_delete_snapshot(struct sbcc *cc, const char *name,
			 struct sbc_error *err);

/* The node holding slot_id ("http://IP:PORT" or a socket path, borrowed
 * until sbcc_close), or NULL with err (slot_not_leased when no node
 * knows it). */
const char *sbcc_slot_endpoint(struct sbcc *cc, const char *slot_id,
			       struct sbc_error *err);

/* Any other slotbox.h call on slot_id's node: fn(conn, arg, err) runs
 * with a connection to the node holding the slot; its result is
 * returned, with "sandbox_lost" for a node that cannot be reached, as
 * for the calls above. */
int sbcc_call(struct sbcc *cc, const char *slot_id,
	      int (*fn)(struct sbc *conn, void *arg, struct sbc_error *err),
	      void *arg, struct sbc_error *err);

/* {"default_profile", "pools": the nodes' pools summed, "nodes": {url:
 * its status, or {"error": message}}}; owned. Fails with
 * node_unavailable when no node answers. */
int sbcc_status(struct sbcc *cc, json_t **out, struct sbc_error *err);

#ifdef __cplusplus
}
#endif

#endif
