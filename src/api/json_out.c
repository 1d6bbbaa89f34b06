/* SPDX-License-Identifier: Apache-2.0 */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "api/api.h"
#include "common/util.h"
#include "config/gpu_assign.h"
#include "config/seccomp_policy.h"
#include "pool/snapshots.h"

json_t *json_time_iso(double t)
{
	char buf[40];
	struct tm tm;
	time_t s = (time_t)t;
	gmtime_r(&s, &tm);
	size_t n = strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(buf + n, sizeof buf - n, ".%03dZ",
		 (int)((t - (double)s) * 1000));
	return json_string(buf);
}

json_t *json_slot(const struct sbx_slot *slot)
{
	const struct pool_slot *lease = pool_slot_of(slot);
	const struct sandbox *sb = slot->sb;
	json_t *o = json_object();
	json_object_set_new(o, "slot_id", json_string(slot->id));
	json_object_set_new(o, "sandbox_id", json_string(sb->id));
	json_object_set_new(o, "profile", json_string(sb->profile->name));
	json_object_set_new(o, "workspace_dir",
			    json_string(sb->profile->workspace_dir));
	json_object_set_new(
		o, "trajectory_id",
		lease->leased && lease->trajectory_id[0]
			? sb_json_string_lossy(lease->trajectory_id,
					       strlen(lease->trajectory_id),
					       NULL)
			: json_null());
	json_object_set_new(o, "state",
			    json_string(slot_state_name(lease->state)));
	json_object_set_new(o, "acquired_at",
			    lease->leased ? json_time_iso(lease->acquired_at)
					  : json_null());
	if (lease->leased && lease->ttl_s > 0) {
		json_object_set_new(o, "ttl_s", json_real(lease->ttl_s));
		double left = lease->ttl_s - (sb_now_mono() - lease->last_used);
		json_object_set_new(o, "expires_in_s",
				    json_real(left > 0 ? left : 0));
	}
	if (lease->state == SLOT_ERROR && lease->error[0])
		json_object_set_new(o, "error", json_string(lease->error));
	if (sb->profile->gpu) {
		int devs[SB_GPU_MAX];
		int n = gpu_assign_slot(sb->profile, sb->number, slot->index,
					devs);
		json_t *g = json_array();
		for (int i = 0; i < n; i++) {
			char num[16];
			snprintf(num, sizeof num, "%d", devs[i]);
			json_array_append_new(g, json_string(num));
		}
		json_object_set_new(o, "gpus", g);
	}
	return o;
}

static const char *sandbox_state_name(const struct sandbox *sb)
{
	switch (sb->state) {
	case SBX_STARTING:
		return "starting";
	case SBX_RUNNING:
		return "running";
	default:
		return "lost";
	}
}

static json_t *json_slot_brief(const struct sbx_slot *s, double now_wall)
{
	const struct pool_slot *lease = pool_slot_of(s);
	json_t *o = json_object();
	json_object_set_new(o, "slot_id", json_string(s->id));
	json_object_set_new(o, "index", json_integer(s->index));
	json_object_set_new(o, "state",
			    json_string(slot_state_name(lease->state)));
	json_object_set_new(o, "leased", json_boolean(lease->leased));
	json_object_set_new(
		o, "trajectory_id",
		lease->leased && lease->trajectory_id[0]
			? sb_json_string_lossy(lease->trajectory_id,
					       strlen(lease->trajectory_id),
					       NULL)
			: json_null());
	double age = now_wall - lease->acquired_at;
	json_object_set_new(o, "lease_age_s",
			    lease->leased ? json_real(age > 0 ? age : 0)
					  : json_null());
	json_object_set_new(o, "calls", json_integer(s->n_calls));
	return o;
}

json_t *json_sandboxes(const struct pools *ps)
{
	json_t *arr = json_array();
	double now = sb_now_mono(), now_wall = sb_now_wall();
	for (size_t i = 0; arr && i < ps->n; i++) {
		const struct pool *p = &ps->items[i];
		for (const struct sandbox *sb = p->sandboxes; sb;
		     sb = sb->next) {
			json_t *slots = json_array();
			for (int k = 0; k < sb->n_slots; k++)
				json_array_append_new(
					slots, json_slot_brief(&sb->slots[k],
							       now_wall));
			json_array_append_new(
				arr,
				json_pack("{s:s, s:s, s:s, s:b, s:b, s:f, s:o}",
					  "sandbox_id", sb->id, "profile",
					  p->profile->name, "state",
					  sandbox_state_name(sb), "draining",
					  sb->draining, "retiring",
					  sb->retiring, "age_s",
					  now - sb->created_mono, "slots",
					  slots));
		}
	}
	return arr;
}

static json_t *json_names(char *const *names, size_t n)
{
	json_t *a = json_array();
	for (size_t i = 0; i < n; i++)
		json_array_append_new(a, json_string(names[i]));
	return a;
}

static int json_seccomp_rule(const struct sb_seccomp_rule *r, void *ud)
{
	char what[160];
	snprintf(what, sizeof what, "%s%s%s", sb_seccomp_errname(r->err),
		 r->when ? " when " : "", r->when ? r->when : "");
	json_object_set_new(ud, r->name, json_string(what));
	return 0;
}

/* The profile's settings and, from the same walk the compiler makes, what
 * is enforced: {"mount": "EPERM", "clone": "EPERM when ...", ...}. */
static void json_seccomp(json_t *o, const struct sb_profile *p)
{
	json_t *rules = json_object();
	sb_seccomp_foreach(p, json_seccomp_rule, rules);
	json_object_set_new(o, "seccomp",
			    json_string(p->seccomp == SB_SECCOMP_NONE
						? "none"
						: "default"));
	json_object_set_new(o, "seccomp_deny",
			    json_names(p->seccomp_deny, p->n_seccomp_deny));
	json_object_set_new(o, "seccomp_allow",
			    json_names(p->seccomp_allow, p->n_seccomp_allow));
	json_object_set_new(o, "seccomp_rules", rules);
}

json_t *json_profile(const struct sb_profile *p, bool active)
{
	json_t *o = json_object();
	json_t *secrets = json_array();
	json_t *env_keys = json_array();
	for (size_t i = 0; i < p->n_secrets; i++)
		json_array_append_new(secrets, json_string(p->secrets[i]));
	/* env_vars values may be credentials: only their names leave. */
	for (size_t i = 0; i < p->n_env_vars; i++)
		json_array_append_new(env_keys,
				      json_string(p->env_vars[i].key));
	json_object_set_new(o, "image", json_string(p->image));
	json_object_set_new(o, "gpu",
			    p->gpu ? json_string(p->gpu) : json_null());
	if (p->gpu_per_slot)
		json_object_set_new(o, "gpu_per_slot",
				    json_integer(p->gpu_per_slot));
	if (p->n_slot_gpus) {
		json_t *l = json_array();
		for (size_t i = 0; i < p->n_slot_gpus; i++)
			json_array_append_new(l, json_string(p->slot_gpus[i]));
		json_object_set_new(o, "slot_gpus", l);
	}
	json_object_set_new(o, "cpu", json_real(p->cpu));
	json_object_set_new(o, "memory_mb", json_integer(p->memory_mb));
	json_object_set_new(o, "memory", json_integer(p->memory_mb));
	json_object_set_new(o, "sandbox_memory_mb",
			    json_integer(p->sandbox_memory_mb));
	json_object_set_new(o, "pids_max", json_integer(p->pids_max));
	json_object_set_new(o, "disk_mb", json_integer(p->disk_mb));
	json_object_set_new(o, "network", json_string(p->network));
	if (strcmp(p->network, "egress") == 0) {
		json_object_set_new(
			o, "allow_cidrs",
			json_names(p->allow_cidrs, p->n_allow_cidrs));
		json_object_set_new(o, "deny_cidrs",
				    json_names(p->deny_cidrs, p->n_deny_cidrs));
	}
	json_object_set_new(o, "ptys_max", json_integer(p->ptys_max));
	json_object_set_new(o, "userns", json_boolean(p->userns == 1));
	json_object_set_new(o, "max_processes", json_integer(p->max_processes));
	json_object_set_new(o, "process_output_bytes",
			    json_integer(p->process_output_bytes));
	json_object_set_new(o, "slots_per_sandbox",
			    json_integer(p->slots_per_sandbox));
	json_object_set_new(o, "min_sandboxes", json_integer(p->min_sandboxes));
	json_object_set_new(o, "max_sandboxes", json_integer(p->max_sandboxes));
	json_object_set_new(o, "prestart_slots",
			    json_integer(p->prestart_slots));
	json_object_set_new(o, "idle_timeout_s", json_real(p->idle_timeout_s));
	json_object_set_new(o, "max_lifetime_s", json_real(p->max_lifetime_s));
	json_object_set_new(o, "acquire_timeout_s",
			    json_real(p->acquire_timeout_s));
	json_object_set_new(o, "execution_timeout_s",
			    json_real(p->execution_timeout_s));
	json_object_set_new(o, "workspace_dir", json_string(p->workspace_dir));
	json_object_set_new(o, "workspace_template",
			    p->workspace_template
				    ? json_string(p->workspace_template)
				    : json_null());
	json_object_set_new(o, "output_limit_bytes",
			    json_integer(p->output_limit_bytes));
	json_object_set_new(o, "max_file_bytes",
			    json_integer(p->max_file_bytes));
	/* the bound in force: unset, it is disk_mb's (snapshot_create.c) */
	json_object_set_new(o, "snapshot_max_bytes",
			    json_integer(p->snapshot_max_bytes
						 ? p->snapshot_max_bytes
					 : p->disk_mb ? p->disk_mb << 20
						      : SNAPSHOT_MAX_BYTES));
	json_object_set_new(o, "snapshot_max_entries",
			    json_integer(p->snapshot_max_entries));
	json_object_set_new(o, "secrets", secrets);
	json_object_set_new(o, "env_var_names", env_keys);
	json_seccomp(o, p);
	json_object_set_new(o, "active", json_boolean(active));
	return o;
}

json_t *json_cgroup(const struct cg_root *r)
{
	json_t *o = json_object();
	json_t *ctls = json_array();
	json_t *missing = json_object();

	json_object_set_new(o, "version", json_string(cg_version(r)));
	json_object_set_new(o, "kill", json_string(cg_mode_name(r->mode)));
	for (int c = 0; c < CG_NCTL; c++) {
		const char *name = cg_ctl_name((enum cg_ctl)c);
		if (cg_hier_of(r, (enum cg_ctl)c))
			json_array_append_new(ctls, json_string(name));
		else
			json_object_set_new(missing, name,
					    json_string(r->why[c]));
	}
	json_object_set_new(o, "controllers", ctls);
	json_object_set_new(o, "unavailable", missing);
	return o;
}

json_t *json_exec_result(const struct exec_result *r, const char *slot_id,
			 const char *execution_id)
{
	json_t *o = json_object();
	json_t *md = json_object();
	bool ok = r->error_class == EXEC_OK && r->returncode == 0;
	json_t *out;

	/* output: stdout, then stderr after a newline when both exist (as
	 * the seed's backend does). */
	if (r->out_len && r->err_len) {
		char *both = malloc(r->out_len + 1 + r->err_len);
		if (both) {
			memcpy(both, r->out, r->out_len);
			both[r->out_len] = '\n';
			memcpy(both + r->out_len + 1, r->err, r->err_len);
			out = sb_json_string_lossy(
				both, r->out_len + 1 + r->err_len, NULL);
			free(both);
		} else {
			out = json_string("");
		}
	} else if (r->out_len) {
		out = sb_json_string_lossy(r->out, r->out_len, NULL);
	} else {
		out = sb_json_string_lossy(r->err, r->err_len, NULL);
	}
	json_object_set_new(o, "success", json_boolean(ok));
	json_object_set_new(o, "output", out ? out : json_string(""));
	json_object_set_new(o, "error", json_string(r->error ? r->error : ""));
	json_object_set_new(o, "execution_id", json_string(execution_id));
	json_object_set_new(o, "slot_id", json_string(slot_id));
	json_object_set_new(md, "returncode", json_integer(r->returncode));
	json_object_set_new(md, "timed_out", json_boolean(r->timed_out));
	json_object_set_new(md, "truncated", json_boolean(r->truncated));
	json_object_set_new(md, "oom_killed", json_boolean(r->oom_killed));
	if (r->has_usage) {
		json_object_set_new(md, "cpu_user_ms",
				    json_real(r->cpu_user_ms));
		json_object_set_new(md, "cpu_system_ms",
				    json_real(r->cpu_sys_ms));
		json_object_set_new(
			md, "peak_memory_bytes",
			json_integer((json_int_t)r->peak_memory_bytes));
	}
	json_object_set_new(md, "stdout",
			    sb_json_string_lossy(r->out, r->out_len, NULL));
	json_object_set_new(md, "stderr",
			    sb_json_string_lossy(r->err, r->err_len, NULL));
	json_object_set_new(md, "duration_ms", json_real(r->duration_ms));
	json_object_set_new(md, "error_class",
			    json_string(exec_error_class_name(r->error_class)));
	if (r->error_code)
		json_object_set_new(md, "error_code",
				    json_string(r->error_code));
	json_object_set_new(o, "metadata", md);
	return o;
}

json_t *json_exec_error(const char *slot_id, enum exec_error_class cls,
			const char *code, const char *msg)
{
	char id[33];
	struct exec_result r = {.returncode = -1,
				.error_class = cls,
				.error = msg,
				.error_code = code,
				.out = "",
				.err = ""};
	if (sb_random_hex(id, 16) < 0)
		snprintf(id, sizeof id, "0");
	return json_exec_result(&r, slot_id ? slot_id : "", id);
}
