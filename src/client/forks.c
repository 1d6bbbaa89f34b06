/* SPDX-License-Identifier: Apache-2.0 */
/* forks.c - libslotbox's forks and snapshots (slotbox.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client/client_internal.h"

bool sbc_snapshot_named(const char *snapshot, struct sbc_slot *out,
			struct sbc_error *err)
{
	if (snapshot && *snapshot)
		return true;
	memset(out, 0, sizeof *out);
	sbc_fail(err, 0, "bad_argument", "a snapshot name is required");
	return false;
}

int sbc_acquire_snapshot(struct sbc *c, const char *snapshot,
			 const char *trajectory_id, double timeout_s,
			 double ttl_s, struct sbc_slot *out,
			 struct sbc_error *err)
{
	if (!sbc_snapshot_named(snapshot, out, err))
		return -1;
	return sbc_post_acquire(c, json_pack("{s:s}", "snapshot", snapshot),
				trajectory_id, timeout_s, ttl_s, out, err);
}

void sbc_slots_free(struct sbc_slot *slots, size_t n)
{
	for (size_t i = 0; slots && i < n; i++)
		sbc_slot_free(&slots[i]);
	free(slots);
}

static json_t *fork_body(int count, const char *const *ids, double ttl_s)
{
	json_t *body = json_pack("{s:i}", "count", count);
	if (body && ttl_s > 0)
		json_object_set_new(body, "ttl_s", json_real(ttl_s));
	if (body && ids) {
		json_t *arr = json_array();
		for (int i = 0; arr && i < count; i++)
			json_array_append_new(arr, json_string(ids[i]));
		json_object_set_new(body, "trajectory_ids", arr);
	}
	return body;
}

int sbc_fork(struct sbc *c, const char *slot_id, int count,
	     const char *const *trajectory_ids, double ttl_s,
	     struct sbc_slot **out, struct sbc_error *err)
{
	*out = NULL;
	if (!sbc_slot_id_ok(slot_id, err))
		return -1;
	if (count < 1)
		return sbc_fail(err, 0, "bad_argument", "count must be >= 1");
	char *path = sbc_slot_path(slot_id, "/fork", err);
	json_t *body = fork_body(count, trajectory_ids, ttl_s), *doc = NULL;
	int rc = -1;
	if (!body)
		sbc_fail(err, 0, "out_of_memory", "out of memory");
	else if (path)
		rc = sbc_request_json(c, "POST", path, body, &doc, err);
	json_decref(body);
	free(path);
	if (rc < 0)
		return -1;
	json_t *arr = json_object_get(doc, "slots");
	size_t n = json_array_size(arr);
	struct sbc_slot *slots = calloc(n ? n : 1, sizeof *slots);
	if (!slots || n != (size_t)count) {
		free(slots);
		json_decref(doc);
		return sbc_fail(err, 201, slots ? "protocol" : "out_of_memory",
				"fork answered %zu slots for %d", n, count);
	}
	for (size_t i = 0; i < n; i++) {
		slots[i].raw = json_incref(json_array_get(arr, i));
		if (sbc_slot_fill(&slots[i], err) < 0) {
			sbc_slots_free(slots, n);
			json_decref(doc);
			return -1;
		}
	}
	json_decref(doc);
	*out = slots;
	return 0;
}

int sbc_snapshot(struct sbc *c, const char *slot_id, const char *name,
		 json_t **meta, struct sbc_error *err)
{
	if (meta)
		*meta = NULL;
	if (!sbc_slot_id_ok(slot_id, err))
		return -1;
	char *path = sbc_slot_path(slot_id, "/snapshot", err);
	json_t *body = json_pack("{s:s}", "name", name ? name : "");
	int rc = -1;
	if (!body)
		sbc_fail(err, 0, "out_of_memory", "out of memory");
	else if (path)
		rc = sbc_request_json(c, "POST", path, body, meta, err);
	json_decref(body);
	free(path);
	return rc;
}

int sbc_snapshots(struct sbc *c, json_t **out, struct sbc_error *err)
{
	return sbc_request_json(c, "GET", "/v1/snapshots", NULL, out, err);
}

int sbc_delete_snapshot(struct sbc *c, const char *name, struct sbc_error *err)
{
	char *esc = sbc_path_escape(name ? name : ""), *path = NULL;
	if (!esc || asprintf(&path, "/v1/snapshots/%s", esc) < 0)
		path = NULL;
	free(esc);
	if (!path)
		return sbc_fail(err, 0, "out_of_memory", "out of memory");
	int rc = sbc_request_json(c, "DELETE", path, NULL, NULL, err);
	free(path);
	return rc;
}
