/* SPDX-License-Identifier: Apache-2.0 */
/* api_world.c - see api_world.h. Each stub below replaces the function of
 * the same name from src/pool, src/sandbox or src/api (routes_images.c),
 * which the fuzz_json target does not link. */
#include "api_world.h"

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "api/proxy.h"
#include "fuzz.h"
#include "pool/gpu_metrics.h"
#include "pool/metrics.h"
#include "pool/seed_job.h"
#include "pool/snapshots.h"
#include "sandbox/files.h"
#include "sandbox/slot_pty.h"

static uv_loop_t *loop;
static struct sb_profile profile;
static struct sb_config cfg;
static struct sandbox sandbox;
static struct sbx_slot slots[2];
static struct pool_slot leases[2]; /* their pool_slot */
static struct pool pool;
static struct pools pools;
static struct cg_root cg;
static struct snapshot_store snaps;
static struct api api;
static int pending, held_snapshots;

/* ---- deferred completions ---- */

struct job {
	uv_timer_t t;
	void (*fn)(struct job *j);
	bool cancelled;
	/* what the job completes */
	exec_done_fn exec_cb;
	const struct file_op_cbs *cbs;
	pool_acquire_fn acquire_cb;
	pool_seed_fn seed_cb;
	pool_snapshot_fn snap_cb;
	void *ud;
	const struct sb_file_req *freq;
	uint32_t op;
	uint64_t size;
	int count;
};

static void job_closed(uv_handle_t *h)
{
	free(h->data);
	pending--;
}

static void job_fire(uv_timer_t *t)
{
	struct job *j = t->data;
	j->fn(j);
	uv_close((uv_handle_t *)t, job_closed);
}

static struct job *job_later(void (*fn)(struct job *j))
{
	struct job *j = calloc(1, sizeof *j);
	FUZZ_SETUP(j != NULL);
	j->fn = fn;
	j->t.data = j;
	FUZZ_SETUP(uv_timer_init(loop, &j->t) == 0);
	FUZZ_SETUP(uv_timer_start(&j->t, job_fire, 0, 0) == 0);
	pending++;
	return j;
}

bool world_busy(void)
{
	return pending > 0;
}

/* ---- the world ---- */

void world_reset(void)
{
	FUZZ_CHECK(held_snapshots == 0, "%d snapshots never released",
		   held_snapshots);
	for (int i = 0; i < 2; i++) {
		struct sbx_slot *s = &slots[i];
		memset(s, 0, sizeof *s);
		memset(&leases[i], 0, sizeof leases[i]);
		s->owner_data = &leases[i];
		s->sb = &sandbox;
		s->index = i;
		snprintf(s->id, sizeof s->id, "sbx-1_slot_%d", i);
		s->base_len = strlen(s->id);
		pool_slot_of(s)->state = SLOT_AVAILABLE;
		s->oom_fd = -1;
	}
	snprintf(slots[0].id, sizeof slots[0].id, "%s", WORLD_SLOT);
	pool_slot_of(&slots[0])->lease_seq = 1;
	pool_slot_of(&slots[0])->leased = true;
	pool_slot_of(&slots[0])->state = SLOT_ACQUIRED;
}

struct api *world_init(uv_loop_t *l)
{
	loop = l;
	sb_profile_defaults(&profile, "default");
	cfg.profiles = &profile;
	cfg.n_profiles = 1;
	cfg.default_profile = profile.name;
	snprintf(sandbox.id, sizeof sandbox.id, "sbx-1");
	sandbox.profile = &profile;
	sandbox.owner = &pool;
	sandbox.n_slots = 2;
	sandbox.slots = slots;
	sandbox.state = SBX_RUNNING;
	pool.owner = &pools;
	pool.profile = &profile;
	pool.sandboxes = &sandbox;
	pools.cfg = &cfg;
	pools.items = &pool;
	pools.n = 1;
	api.pools = &pools;
	api.cfg = &cfg;
	api.cg = &cg;
	api.snapshots = &snaps;
	world_reset();
	return &api;
}

/* ---- pool.h ---- */

struct pool *pools_find(struct pools *ps, const char *name)
{
	(void)ps;
	return strcmp(name, profile.name) == 0 ? &pool : NULL;
}

/* The real lookup's rules: "<sandbox>_slot_<i>" and a lease suffix. */
struct sbx_slot *pools_find_slot(struct pools *ps, const char *id, bool *stale)
{
	(void)ps;
	size_t base = strcspn(id, ".");
	if (stale)
		*stale = false;
	for (int i = 0; i < 2; i++) {
		if (slots[i].base_len != base || memcmp(slots[i].id, id, base))
			continue;
		if (stale)
			*stale = strcmp(slots[i].id, id) != 0;
		return &slots[i];
	}
	return NULL;
}

static void acquire_fail(struct job *j)
{
	if (!j->cancelled)
		j->acquire_cb(NULL, "acquire_timeout", "no slot came free",
			      j->ud);
}

/* cppcheck-suppress constParameter ; the real one's prototype */
int pool_acquire(struct pool *p, const char *traj, double ttl_s,
		 double timeout_s, struct sbx_slot **out, pool_acquire_fn cb,
		 void *ud, struct pool_waiter **waiter)
{
	FUZZ_CHECK(p == &pool, "unknown pool");
	FUZZ_CHECK(timeout_s > 0 && timeout_s <= API_MAX_TIMEOUT_S,
		   "acquire timeout %g", timeout_s);
	FUZZ_CHECK(ttl_s >= 0 && ttl_s <= API_MAX_TIMEOUT_S, "ttl %g", ttl_s);
	FUZZ_CHECK(!traj || strlen(traj) <= API_MAX_TRAJECTORY_ID,
		   "trajectory id of %zu bytes", strlen(traj));
	if (timeout_s >= 1) { /* a free slot */
		*out = &slots[0];
		return 1;
	}
	struct job *j = job_later(acquire_fail); /* queued, then too late */
	j->acquire_cb = cb;
	j->ud = ud;
	*waiter = (struct pool_waiter *)j;
	return 0;
}

void pool_acquire_cancel(struct pool_waiter *w)
{
	((struct job *)w)->cancelled = true;
}

void pool_release(struct sbx_slot *slot, bool reset)
{
	(void)reset;
	FUZZ_CHECK(pool_slot_of(slot)->leased, "release of a slot not leased");
}

int pool_journal_unlease(struct pools *ps, const struct sbx_slot *slot)
{
	(void)ps;
	FUZZ_CHECK(pool_slot_of(slot)->leased, "release of a slot not leased");
	return 0;
}

void pool_end_lease(struct sbx_slot *slot, bool reset)
{
	pool_release(slot, reset);
}

void pool_slot_exec_begin(struct sbx_slot *slot)
{
	slot->n_calls++;
}

void pool_slot_exec_end(struct sbx_slot *slot)
{
	FUZZ_CHECK(slot->n_calls > 0, "exec end without a begin");
	slot->n_calls--;
}

void pool_counts(const struct pool *p, struct pool_counts *c)
{
	(void)p;
	memset(c, 0, sizeof *c);
}

int pool_journal_lease(struct pools *ps, const struct sbx_slot *slot)
{
	(void)ps;
	(void)slot;
	return 0;
}

/* ---- exec.h ---- */

static void exec_finish(struct job *j)
{
	struct exec_result r = {.out = "ok\n",
				.out_len = 3,
				.err = "",
				.error = "",
				.duration_ms = 1};
	if (j->cancelled)
		r.error_class = EXEC_CANCELLED;
	j->exec_cb(&r, j->ud);
}

int exec_start(struct sbx_slot *slot, const struct exec_spec *spec,
	       exec_done_fn cb, void *ud, struct exec_call **out,
	       struct sb_err *err)
{
	(void)err;
	FUZZ_CHECK(pool_slot_of(slot)->leased, "exec on a slot not leased");
	FUZZ_CHECK(spec->timeout_s > 0 && spec->timeout_s <= API_MAX_TIMEOUT_S,
		   "exec timeout %g", spec->timeout_s);
	FUZZ_CHECK(spec->argv[0] && spec->argv[0][0] == '/', "argv[0]");
	FUZZ_CHECK(spec->cwd && spec->cwd[0] == '/', "cwd %s", spec->cwd);
	for (char *const *e = spec->envp; *e; e++) {
		const char *eq = strchr(*e, '=');
		FUZZ_CHECK(eq && eq > *e && !isdigit((unsigned char)**e),
			   "environment entry %s", *e);
		for (const char *c = *e; c < eq; c++)
			FUZZ_CHECK(isalnum((unsigned char)*c) || *c == '_',
				   "environment name %s", *e);
	}
	struct job *j = job_later(exec_finish);
	j->exec_cb = cb;
	j->ud = ud;
	if (out)
		*out = (struct exec_call *)j;
	return 0;
}

void exec_cancel(struct exec_call *call)
{
	((struct job *)call)->cancelled = true;
}

void exec_resume_output(struct exec_call *call)
{
	(void)call;
}

void exec_signal(struct exec_call *call, int sig)
{
	(void)call;
	(void)sig;
}

int slot_pty_open(struct sbx_slot *slot, unsigned rows, unsigned cols,
		  slot_pty_fn cb, void *ud, struct sb_err *err)
{
	(void)slot;
	(void)rows;
	(void)cols;
	(void)cb;
	(void)ud;
	return sb_err_set(err, ENOSYS, "no terminals here");
}

const char *exec_error_class_name(enum exec_error_class c)
{
	static const char *const names[] = {"none", "task", "timeout", "infra",
					    "cancelled"};
	return c <= EXEC_CANCELLED ? names[c] : "infra";
}

/* ---- files.h ---- */

static void file_finish(struct job *j)
{
	static const char listing[] = "a\0b/c\0d\0";
	if (!j->cancelled) {
		j->cbs->header(j->ud, 0, j->size);
		if (j->op == SB_FILE_READ)
			j->cbs->data(j->ud, "hello", 5);
		else if (j->op == SB_FILE_LIST)
			j->cbs->data(j->ud, listing, sizeof listing - 1);
		else if (j->op == SB_FILE_ARCHIVE)
			for (int i = 0; i < 4 && !j->cancelled; i++)
				j->cbs->data(j->ud, "0123456789", 10);
		else if (j->op == SB_FILE_UNPACK)
			j->cbs->data(j->ud, "3", 1);
	}
	j->cbs->end(j->ud, !j->cancelled, j->cancelled ? "cancelled" : "");
}

int file_op_start(struct sbx_slot *slot, const struct sb_file_req *req,
		  const void *in_data, size_t in_len, double timeout_s,
		  const struct file_op_cbs *cbs, void *ud, struct file_op **out,
		  struct sb_err *err)
{
	(void)slot;
	(void)in_data;
	(void)err;
	FUZZ_CHECK(req->magic == SB_FILE_MAGIC, "magic");
	FUZZ_CHECK(memchr(req->path, '\0', sizeof req->path) && req->path[0],
		   "path not a non-empty string");
	FUZZ_CHECK(timeout_s > 0, "file op timeout %g", timeout_s);
	FUZZ_CHECK((req->op != SB_FILE_WRITE && req->op != SB_FILE_UNPACK) ||
			   (int64_t)in_len <= profile.max_file_bytes,
		   "write of %zu bytes", in_len);
	struct job *j = job_later(file_finish);
	j->cbs = cbs;
	j->ud = ud;
	j->op = req->op;
	j->size = req->op == SB_FILE_READ    ? 5
		  : req->op == SB_FILE_WRITE ? in_len
					     : 0;
	if (out)
		*out = (struct file_op *)j;
	return 0;
}

void file_op_pause(struct file_op *op)
{
	(void)op;
}

void file_op_resume(struct file_op *op)
{
	(void)op;
}

void file_op_cancel(struct file_op *op, const char *why)
{
	(void)why;
	((struct job *)op)->cancelled = true;
}

/* ---- seed_job.h, snapshots.h ---- */

static void seed_finish(struct job *j)
{
	struct sbx_slot *list[SEED_MAX_COUNT];
	for (int i = 0; i < j->count; i++)
		list[i] = &slots[1];
	struct pool_seed_result r = {.slots = list, .n = j->count};
	if (!j->cancelled)
		j->seed_cb(&r, j->ud);
}

/* cppcheck-suppress constParameter ; the real one's prototype */
int pool_seed(struct pool *p, const struct pool_seed_req *req, pool_seed_fn cb,
	      void *ud, struct pool_seed **out, struct sb_err *err)
{
	(void)err;
	FUZZ_CHECK(p == &pool, "unknown pool");
	FUZZ_CHECK(req->count >= 1 && req->count <= SEED_MAX_COUNT,
		   "seed count %d", req->count);
	FUZZ_CHECK(req->timeout_s > 0 && req->timeout_s <= API_MAX_TIMEOUT_S,
		   "seed timeout %g", req->timeout_s);
	for (int i = 0; req->trajectory_ids && i < req->count; i++)
		FUZZ_CHECK(req->trajectory_ids[i], "trajectory id %d", i);
	struct job *j = job_later(seed_finish);
	j->seed_cb = cb;
	j->ud = ud;
	j->count = req->count;
	*out = (struct pool_seed *)j;
	if (req->src_done)
		req->src_done(req->src_done_ud);
	return 0;
}

void pool_seed_cancel(struct pool_seed *s)
{
	((struct job *)s)->cancelled = true;
}

static void snapshot_finish(struct job *j)
{
	j->snap_cb(201, NULL, NULL, json_pack("{s:s}", "name", "saved"), j->ud);
}

int pool_snapshot(struct snapshot_store *st, struct sbx_slot *slot,
		  const char *name, pool_snapshot_fn cb, void *ud,
		  struct sb_err *err)
{
	(void)st;
	(void)slot;
	if (!snapshot_name_valid(name)) /* as the real one answers */
		return sb_err_api(err, 400, "bad_request", "bad snapshot name");
	struct job *j = job_later(snapshot_finish);
	j->snap_cb = cb;
	j->ud = ud;
	return 0;
}

bool snapshot_name_valid(const char *name)
{
	size_t n = strlen(name);
	return n >= 1 && n <= SNAPSHOT_NAME_MAX && name[0] != '.' &&
	       strspn(name, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUV"
			    "WXYZ0123456789_.-") == n;
}

json_t *snapshots_list(struct snapshot_store *s)
{
	(void)s;
	return json_pack("{s:[]}", "snapshots");
}

int snapshot_acquire(struct snapshot_store *s, const char *name,
		     struct snapshot_info *info, struct sb_err *err)
{
	(void)s;
	if (strcmp(name, "snap") != 0)
		return sb_err_set(err, ENOENT, "no snapshot %s", name);
	memset(info, 0, sizeof *info);
	snprintf(info->name, sizeof info->name, "%s", name);
	snprintf(info->profile, sizeof info->profile, "default");
	snprintf(info->tree, sizeof info->tree, "/nonexistent");
	info->use = (struct snapshot_use *)&held_snapshots;
	held_snapshots++;
	return 0;
}

/* cppcheck-suppress constParameter ; the real one's prototype */
void snapshot_release(struct snapshot_store *s, struct snapshot_use *use)
{
	(void)s;
	FUZZ_CHECK(use == (struct snapshot_use *)&held_snapshots &&
			   held_snapshots > 0,
		   "release of a snapshot not held");
	held_snapshots--;
}

int snapshot_delete(struct snapshot_store *s, const char *name,
		    struct sb_err *err)
{
	(void)s;
	return sb_err_set(err, ENOENT, "no snapshot %s", name);
}

/* ---- metrics.h, cgroup.h, routes_images.c ---- */

void metrics_observe(enum metrics_hist h, const char *p, double s)
{
	(void)h;
	(void)p;
	FUZZ_CHECK(s >= 0, "negative duration %g", s);
}

void metrics_call(const char *p, const char *tool, const char *cls,
		  int truncated)
{
	(void)p;
	(void)truncated;
	FUZZ_CHECK(tool && cls, "metrics_call without tool or class");
}

void metrics_acquire_failed(const char *p, const char *code)
{
	(void)p;
	FUZZ_CHECK(code, "failed acquire without a code");
}

char *metrics_render(const struct pools *ps, size_t *len)
{
	(void)ps;
	*len = 0;
	return strdup("");
}

/* No NVML in the fuzz world: GET /v1/status has no "gpus". */
json_t *gpu_metrics_json(const struct pools *ps)
{
	(void)ps;
	return NULL;
}

const char *cg_mode_name(enum cg_mode mode)
{
	(void)mode;
	return "none";
}

const char *cg_version(const struct cg_root *r)
{
	(void)r;
	return "none";
}

const char *cg_ctl_name(enum cg_ctl c)
{
	static const char *const names[] = {"cpu", "memory", "pids"};
	return (unsigned)c < CG_NCTL ? names[c] : "?";
}

const struct cg_hier *cg_hier_of(const struct cg_root *r, enum cg_ctl c)
{
	(void)r;
	(void)c;
	return NULL;
}

void api_images(struct api *a, struct http_request *req, const char *rest)
{
	(void)a;
	(void)rest;
	http_respond_error(req, 404, "not_found", "no images here");
}

/* ---- proxy.h: the port proxy needs a real slot; here it only answers ---- */

void proxy_start(struct http_request *req, struct sbx_slot *slot, bool stale,
		 const char *rest)
{
	(void)slot;
	(void)stale;
	(void)rest;
	http_respond_error(req, 502, "port_unreachable", "no slots here");
}
