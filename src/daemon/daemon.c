/* SPDX-License-Identifier: Apache-2.0 */
/* daemon.c - start-up, signals and shutdown of slotboxd. */
#include "daemon/daemon.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>
#include <uv.h>

#include "api/api.h"
#include "api/proxy.h"
#include "common/cleanup.h"
#include "common/util.h"
#include "config/gpu_assign.h"
#include "daemon/egress.h"
#include "daemon/gpu_driver.h"
#include "daemon/templates.h"
#include "http/http.h"
#include "image/image.h"
#include "pool/gpu_metrics.h"
#include "pool/metrics.h"
#include "pool/pool.h"
#include "pool/snapshots.h"
#include "sandbox/cg_stock.h"
#include "sandbox/launcher.h"
#include "sandbox/sandbox.h"
#include "sandbox/seccomp_bpf.h"
#include "sandbox/uid_range.h"
#include "store/journal.h"

extern char **environ;

struct daemon {
	uv_loop_t *loop;
	const struct daemon_opts *opts;
	struct sb_config cfg;
	struct journal journal;
	struct sb_secret_env *secrets; /* one per profile */
	struct sbx_env env;
	struct gpu_driver gpu_driver; /* env.gpu_args points into it */
	struct pools pools;
	struct snapshot_store snapshots;
	struct egress egress;
	struct api api;
	struct http_server *http;
	uv_signal_t sigterm, sigint;
	bool stopping;
	int exit_code;
};

static int die(const char *what, const char *why)
{
	sb_log(SB_LOG_ERROR, "startup_failed", "what", what, "why", why,
	       SB_LOG_END);
	fprintf(stderr, "slotboxd: %s: %s\n", what, why);
	return 1;
}

/* FNV-1a of the state dir: names this daemon's cgroup stably across
 * restarts while letting daemons with other state dirs coexist. */
static void instance_name(const char *state_dir, char *out, size_t len)
{
	uint64_t h = 1469598103934665603ull;
	for (const char *p = state_dir; *p; p++) {
		h ^= (unsigned char)*p;
		h *= 1099511628211ull;
	}
	snprintf(out, len, "d%016llx", (unsigned long long)h);
}

/* slotbox-init lives next to slotboxd in a build tree, or in
 * ../libexec/slotbox/ once installed. */
static int find_init(const struct daemon_opts *o, char *out, size_t len)
{
	static const char *const rel[] = {"slotbox-init",
					  "../libexec/slotbox/slotbox-init"};
	char self[PATH_MAX];

	if (o->init_path) {
		snprintf(out, len, "%s", o->init_path);
		return access(out, X_OK);
	}
	ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
	if (n <= 0)
		return -1;
	self[n] = '\0';
	const char *dir = dirname(self);
	for (size_t i = 0; i < 2; i++) {
		snprintf(out, len, "%s/%s", dir, rel[i]);
		if (access(out, X_OK) == 0)
			return 0;
	}
	return -1;
}

/* The bearer token: at least 16 characters on the first line of a file
 * only root can read (a file others can read is refused, naming the path,
 * never the content). 0, or -1 with err. */
static int read_token(const char *path, char **out, struct sb_err *err)
{
	char buf[4096];
	_cleanup_fd_ int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return sb_err_sys(err, "cannot open");
	if (sb_check_private_fd(fd, err) < 0)
		return -1;
	ssize_t n = read(fd, buf, sizeof buf - 1);
	buf[n > 0 ? n : 0] = '\0';
	buf[strcspn(buf, "\r\n")] = '\0';
	if (strlen(buf) < 16) {
		explicit_bzero(buf, sizeof buf);
		return sb_err_set(err, EINVAL,
				  "cannot read a token of at least 16 "
				  "characters");
	}
	*out = strdup(buf);
	explicit_bzero(buf, sizeof buf);
	if (!*out)
		return sb_err_set(err, ENOMEM, "out of memory");
	return 0;
}

/* A cleared record ({}: a daemon killed while it wrote or removed one)
 * is no sandbox. */
static int count_record(const char *name, json_t *doc, void *ud)
{
	(void)name;
	if (json_object_size(doc) > 0)
		(*(int *)ud)++;
	return 0;
}

static bool journal_has_sandboxes(struct journal *j)
{
	int n = 0;
	if (j->dir.fd >= 0)
		journal_each(j, "sb-", count_record, &n);
	return n > 0;
}

static void http_closed(void *ud)
{
	struct daemon *d = ud;
	d->http = NULL;
	unlink(d->opts->socket_path);
	/* Spares are for the next sandboxes of this daemon (or of one
	 * started after it was killed): a stop leaves none. */
	journal_drop_spares(&d->journal);
	sandbox_scratch_close(&d->env);
	journal_close(&d->journal);
	snapshots_close(&d->snapshots);
	/* Kept sandboxes keep their groups for the next daemon, which sweeps
	 * a group made ahead; none is made after this. */
	cg_stock_stop(&d->env.cg);
	if (!d->opts->keep_sandboxes && cg_root_teardown(&d->env.cg) < 0)
		sb_log(SB_LOG_WARN, "cgroup_teardown_failed", "why",
		       strerror(errno), SB_LOG_END);
	uv_signal_stop(&d->sigterm);
	uv_signal_stop(&d->sigint);
	uv_close((uv_handle_t *)&d->sigterm, NULL);
	uv_close((uv_handle_t *)&d->sigint, NULL);
	sb_log(SB_LOG_INFO, "stopped", SB_LOG_END);
}

static void pools_stopped(void *ud)
{
	struct daemon *d = ud;
	/* the launcher first: its worker is the zygote's only user */
	launcher_stop(&d->env);
	zygote_stop(&d->env.zygote);
	if (d->http)
		http_server_close(d->http, http_closed, d);
}

static void on_signal(uv_signal_t *h, int signum)
{
	struct daemon *d = h->data;
	if (d->stopping)
		return;
	d->stopping = true;
	sb_log(SB_LOG_INFO, "stopping", "signal", strsignal(signum),
	       SB_LOG_END);
	gpu_metrics_stop();
	pools_shutdown(&d->pools, pools_stopped, d);
}

static int listen_tcp(struct daemon *d)
{
	const char *spec = d->opts->listen;
	char host[256];
	if (strncmp(spec, "tcp://", 6) != 0)
		return die("--listen", "must look like tcp://HOST:PORT");
	const char *hp = spec + 6;
	const char *colon = strrchr(hp, ':');
	if (!colon || colon == hp || (size_t)(colon - hp) >= sizeof host)
		return die("--listen", "must look like tcp://HOST:PORT");
	memcpy(host, hp, (size_t)(colon - hp));
	host[colon - hp] = '\0';
	if (host[0] == '[') { /* [::1] */
		memmove(host, host + 1, strlen(host));
		host[strcspn(host, "]")] = '\0';
	}
	char *end;
	long port = strtol(colon + 1, &end, 10);
	if (*end || port < 0 || port > 65535)
		return die("--listen", "bad port");
	struct sb_err err;
	if (http_server_listen_tcp(d->http, host, (int)port, &err) < 0)
		return die("--listen", err.msg);
	char p[16];
	snprintf(p, sizeof p, "%d", http_server_tcp_port(d->http));
	sb_log(SB_LOG_INFO, "listening", "tcp", host, "port", p, SB_LOG_END);
	return 0;
}

/* Every profile's secrets, read once at start: a missing or malformed
 * secret stops the daemon here rather than failing calls later. */
static int load_secrets(struct daemon *d)
{
	const char *dir = d->opts->secrets_dir ? d->opts->secrets_dir
					       : SB_SECRETS_DEFAULT_DIR;
	d->secrets = calloc(d->cfg.n_profiles ? d->cfg.n_profiles : 1,
			    sizeof *d->secrets);
	if (!d->secrets)
		return die("secrets", "out of memory");
	for (size_t i = 0; i < d->cfg.n_profiles; i++) {
		const struct sb_profile *p = &d->cfg.profiles[i];
		struct sb_err err;
		if (sb_secrets_load(dir, p->secrets, p->n_secrets,
				    &d->secrets[i], &err) < 0) {
			char what[128];
			snprintf(what, sizeof what, "profile \"%s\"", p->name);
			return die(what, err.msg);
		}
	}
	return 0;
}

/* Every profile's seccomp filter, compiled once before any sandbox
 * starts; each sandbox of the profile gets the sealed program. */
static int compile_filters(struct daemon *d)
{
	for (size_t i = 0; i < d->cfg.n_profiles; i++) {
		struct sb_profile *p = &d->cfg.profiles[i];
		struct sb_err err;
		if (seccomp_bpf_compile(p, &p->seccomp_fd, &err) < 0) {
			char what[128];
			snprintf(what, sizeof what, "profile \"%s\"", p->name);
			return die(what, err.msg);
		}
	}
	return 0;
}

static void close_filters(struct sb_config *cfg)
{
	for (size_t i = 0; i < cfg->n_profiles; i++) {
		if (cfg->profiles[i].seccomp_fd >= 0)
			close(cfg->profiles[i].seccomp_fd);
		cfg->profiles[i].seccomp_fd = -1;
	}
}

/* The profile's gpu set as device numbers: "all" is the host's GPUs, a
 * list must name GPUs the host has; per-slot choices must fit the set. */
static int resolve_gpus(struct sb_profile *p, const int *host, int n_host,
			struct sb_err *err)
{
	p->n_gpu_devs = 0;
	if (strcmp(p->gpu, "all") == 0) {
		memcpy(p->gpu_devs, host, (size_t)n_host * sizeof *host);
		p->n_gpu_devs = n_host;
	} else if (gpu_list_parse(p->gpu, p->gpu_devs, &p->n_gpu_devs)) {
		for (int i = 0; i < p->n_gpu_devs; i++) {
			bool found = false;
			for (int j = 0; j < n_host; j++)
				found = found || host[j] == p->gpu_devs[i];
			if (!found)
				return sb_err_set(err, ENODEV,
						  "gpu \"%s\": /dev/nvidia%d "
						  "is missing on this host",
						  p->gpu, p->gpu_devs[i]);
		}
	}
	if (gpu_per_slot_choice(p) && p->n_gpu_devs == 0)
		return sb_err_set(err, ENODEV,
				  "gpu_per_slot/slot_gpus: this host has "
				  "no /dev/nvidiaN to give slots");
	if (p->gpu_per_slot > p->n_gpu_devs)
		return sb_err_set(err, ENODEV,
				  "gpu_per_slot %d is more than the %d GPU(s) "
				  "this host has",
				  p->gpu_per_slot, p->n_gpu_devs);
	for (size_t i = 0; i < p->n_slot_gpus; i++) {
		int item[SB_GPU_MAX], k = 0;
		if (!gpu_list_parse(p->slot_gpus[i], item, &k))
			continue;
		for (int j = 0; j < k; j++) {
			bool in = false;
			for (int m = 0; m < p->n_gpu_devs; m++)
				in = in || p->gpu_devs[m] == item[j];
			if (!in)
				return sb_err_set(err, ENODEV,
						  "slot_gpus item #%zu names "
						  "GPU %d: /dev/nvidia%d is "
						  "missing on this host",
						  i + 1, item[j], item[j]);
		}
	}
	return 0;
}

/* A profile that asks for a GPU on a host without one would only fail
 * later, sandbox by sandbox: say so at start. The driver's files for the
 * slots are found here too, once. */
static int check_gpus(struct daemon *d)
{
	int host[SB_GPU_MAX];
	int n_host = gpu_host_devices("/dev", host);
	bool any = false;
	for (size_t i = 0; i < d->cfg.n_profiles; i++) {
		struct sb_profile *p = &d->cfg.profiles[i];
		char what[128];
		struct sb_err why;
		snprintf(what, sizeof what, "profile \"%s\"", p->name);
		if (!p->gpu)
			continue;
		any = true;
		if (access("/dev/nvidiactl", F_OK) < 0)
			return die(what, "asks for a GPU (gpu: ...) but this "
					 "host has none: /dev/nvidiactl is "
					 "missing");
		if (resolve_gpus(p, host, n_host, &why) < 0)
			return die(what, why.msg);
	}
	if (!any)
		return 0;
	struct sb_err why;
	if (gpu_driver_discover(&d->gpu_driver, &why) < 0)
		return die("gpu", why.msg);
	d->env.gpu_args = d->gpu_driver.args;
	d->env.n_gpu_args = d->gpu_driver.n_args;
	return 0;
}

/* A template tree an adopted sandbox still runs on stays until it ends. */
static bool template_in_use(const char *id, void *ud)
{
	const struct pools *ps = ud;
	for (size_t i = 0; i < ps->n; i++)
		for (const struct sandbox *sb = ps->items[i].sandboxes; sb;
		     sb = sb->next)
			if (strcmp(sb->template_id, id) == 0)
				return true;
	return false;
}

/* What slots must not see of the daemon's own files: its state and socket
 * dirs, the secrets dir, the token and config files. Resolved here (the
 * slot's root may hold other symlinks than the host's); a path that does
 * not exist (yet) is hidden as given. */
static void add_one_mask(struct sbx_env *env, const char *path)
{
	if (path[0] != '/' || strcmp(path, "/") == 0 ||
	    env->n_masks >= SBX_MAX_MASKS)
		return;
	for (int i = 0; i < env->n_masks; i++)
		if (strcmp(env->masks[i], path) == 0)
			return;
	snprintf(env->masks[env->n_masks++], PATH_MAX, "%s", path);
}

static void add_mask(struct sbx_env *env, const char *path)
{
	char real[PATH_MAX], dir[PATH_MAX], real_dir[PATH_MAX];
	struct stat st;
	if (!path)
		return;
	if (!realpath(path, real))
		snprintf(real, sizeof real, "%s", path);
	add_one_mask(env, real);
	/* A symlink to the file (a Kubernetes Secret's token, ..data/...)
	 * goes too, when its own dir has no link in its path. */
	snprintf(dir, sizeof dir, "%s", path);
	if (lstat(path, &st) == 0 && S_ISLNK(st.st_mode) &&
	    realpath(dirname(dir), real_dir) &&
	    strncmp(path, real_dir, strlen(real_dir)) == 0 &&
	    path[strlen(real_dir)] == '/')
		add_one_mask(env, path);
}

static void collect_masks(const struct daemon_opts *o, struct sbx_env *env)
{
	add_mask(env, env->state_dir);
	add_mask(env, env->socket_dir);
	add_mask(env, o->secrets_dir ? o->secrets_dir : SB_SECRETS_DEFAULT_DIR);
	add_mask(env, o->token_file);
	add_mask(env, o->config_path);
}

/* Copies of deep trees hold two descriptors per level; allow what the
 * hard limit allows. */
static void raise_fd_limit(struct sbx_env *env)
{
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
		return;
	env->nofile = rl; /* sandboxes keep what we were given */
	env->nofile_set = true;
	if (rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
}

/* A profile's store image must be there (with userns, marked for it:
 * image_check_userns) when the profile starts sandboxes at once
 * (min_sandboxes > 0): else the daemon stops here, with the command that
 * imports it, rather than retrying in the background.
 * One with nothing to start may have its image imported later. */
static int check_images(const struct sb_config *cfg, const char *store,
			struct sb_err *err)
{
	for (size_t i = 0; i < cfg->n_profiles; i++) {
		const struct sb_profile *p = &cfg->profiles[i];
		struct sb_image img;
		if (!strcmp(p->image, "host") || !strncmp(p->image, "dir:", 4))
			continue;
		if (image_load(store, p->image, &img, err) == 0) {
			bool ok = p->userns != 1 ||
				  image_check_userns(&img, p->image, err) == 0;
			image_free(&img);
			if (ok)
				continue;
		}
		if (p->min_sandboxes > 0)
			return sb_err_prefix(err,
					     "profile \"%s\" (min_sandboxes "
					     "%d)",
					     p->name, p->min_sandboxes);
		sb_log(SB_LOG_WARN, "image_missing", "profile", p->name,
		       "image", p->image, "why", err->msg, SB_LOG_END);
	}
	return 0;
}

/* network: egress: the table and forwarding, and what sandboxes need to
 * make their veths (egress.h). Needs the uid range: its number names the
 * table and the interfaces. */
static int setup_egress(struct daemon *d)
{
	struct sb_err err = {0};
	struct egress *e = &d->egress;
	if (egress_plan(e, &d->cfg, d->env.uid_base, d->opts->egress_net,
			&err) < 0)
		return die("network: egress", err.msg);
	if (!e->on)
		return 0;
	for (size_t i = 0; i < d->cfg.n_profiles; i++)
		d->cfg.profiles[i].egress_group = egress_group(e, i);
	inet_ntop(AF_INET, e->net.addr, d->env.egress_net,
		  sizeof d->env.egress_net);
	d->env.egress_stride = e->link_stride;
	d->env.egress_instance = e->instance;
	if (egress_apply(e, &d->cfg, &err) < 0) {
		e->on = false; /* nothing to remove at stop */
		return die("network: egress", err.msg);
	}
	return 0;
}

static int setup(struct daemon *d)
{
	const struct daemon_opts *o = d->opts;
	struct sb_err err;
	char why[PATH_MAX + 64];

	raise_fd_limit(&d->env);
	if (geteuid() != 0)
		return die("start", "slotboxd must run as root (it creates "
				    "namespaces, mounts and cgroups)");
	if (o->config_from_atropos)
		sb_log(SB_LOG_WARN, "config", "what",
		       o->config_path ? "environment variable "
					"ATROPOS_MODAL_PROFILES_FILE used as "
					"--config"
				      : "environment variable "
					"ATROPOS_MODAL_PROFILES_FILE ignored: "
					"no such file",
		       "path", getenv("ATROPOS_MODAL_PROFILES_FILE"),
		       SB_LOG_END);
	if (sb_config_load(&d->cfg, o->config_path, environ, &err) < 0)
		return die("config", err.msg);
	for (size_t i = 0; i < d->cfg.n_warnings; i++)
		sb_log(SB_LOG_WARN, "config", "what", d->cfg.warnings[i],
		       SB_LOG_END);
	if (load_secrets(d) != 0 || compile_filters(d) != 0 ||
	    check_gpus(d) != 0)
		return 1;
	if (strpbrk(o->state_dir, ",:\\") || o->state_dir[0] != '/')
		return die("--state-dir",
			   "must be an absolute path without ',', ':' or '\\'");
	if (sb_mkdir_p(o->state_dir, 0700) < 0)
		return die(o->state_dir, strerror(errno));
	char lock[PATH_MAX];
	snprintf(lock, sizeof lock, "%s/lock", o->state_dir);
	int lfd = open(lock, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (lfd < 0 || flock(lfd, LOCK_EX | LOCK_NB) < 0)
		return die(lock, "another slotboxd uses this state dir");
	/* lfd stays open for the daemon's life: the lock is the point. */
	if (uid_range_take(UID_RANGE_DIR, o->state_dir, &d->env.uid_base,
			   &d->env.uid_lock_fd, &err) < 0)
		return die("slot uids", err.msg);
	char range[64];
	snprintf(range, sizeof range, "%u-%u", (unsigned)d->env.uid_base,
		 (unsigned)(d->env.uid_base + SBX_RANGE_UIDS - 1));
	sb_log(SB_LOG_INFO, "uid_range", "uids", range, SB_LOG_END);
	if (setup_egress(d) != 0)
		return 1;
	if (journal_open(&d->journal, o->state_dir, &err) < 0)
		return die("journal", err.msg);
	/* Before anything listens: a template to copy can take a while,
	 * and a bad one stops the daemon here. */
	if (templates_prepare(&d->cfg, o->state_dir, &err) < 0)
		return die("template", err.msg);
	if (snapshots_open(&d->snapshots, d->loop, o->state_dir, &err) < 0)
		return die("snapshots", err.msg);
	d->snapshots.max_bytes = (uint64_t)o->snapshot_store_max_bytes;
	d->api.snapshots = &d->snapshots;
	snprintf(lock, sizeof lock, "%s/ctl", o->state_dir);
	if (mkdir(lock, 0700) < 0 && errno != EEXIST)
		return die(lock, strerror(errno));

	struct sbx_env *env = &d->env;
	env->loop = d->loop;
	env->ops = &pool_sandbox_ops;
	env->orphan_timeout_s = o->orphan_timeout_s;
	env->slot_root = o->slot_root;
	snprintf(env->state_dir, sizeof env->state_dir, "%s", o->state_dir);
	char sock_copy[PATH_MAX];
	snprintf(sock_copy, sizeof sock_copy, "%s", o->socket_path);
	snprintf(env->socket_dir, sizeof env->socket_dir, "%s",
		 dirname(sock_copy));
	collect_masks(o, env);
	if (find_init(o, env->init_path, sizeof env->init_path) < 0)
		return die("slotbox-init",
			   "not found next to slotboxd (use --init PATH)");
	zygote_configure(&env->zygote);
	/* slotbox-image sits beside slotbox-init. */
	char init_copy[PATH_MAX];
	snprintf(init_copy, sizeof init_copy, "%s", env->init_path);
	snprintf(d->api.image_tool, sizeof d->api.image_tool,
		 "%s/slotbox-image", dirname(init_copy));
	image_store_path(o->state_dir, env->image_store,
			 sizeof env->image_store);
	snprintf(d->api.image_store, sizeof d->api.image_store, "%s",
		 env->image_store);
	if (check_images(&d->cfg, env->image_store, &err) < 0)
		return die("config", err.msg);
	env->devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
	if (env->devnull < 0)
		return die("/dev/null", strerror(errno));
	env->sys_netns = sbx_sys_netns_make();
	if (env->sys_netns < 0)
		sb_log(SB_LOG_WARN, "sys_netns_failed", "why", strerror(errno),
		       "effect",
		       "each sandbox makes a network namespace for its "
		       "slots' /sys",
		       SB_LOG_END);
	char inst[32];
	instance_name(o->state_dir, inst, sizeof inst);
	cg_root_setup(&env->cg, o->cgroup_mount, inst, why, sizeof why);
	cg_root_log(&env->cg, why);
	d->api.cg = &env->cg;

	struct http_server_opts hopts;
	http_server_opts_default(&hopts);
	/* Room for a 64 MiB file as base64 inside a write_file JSON body. */
	hopts.max_body_bytes = 96u << 20;
	hopts.header_timeout_s = o->header_timeout_s;
	char *token = NULL;
	struct sb_err terr;
	if (o->token_file && read_token(o->token_file, &token, &terr) < 0)
		return die(o->token_file, terr.msg);
	hopts.token = token;
	hopts.login_path = "/"; /* the dashboard: GET /?token=T */
	/* kubelet's httpGet probes carry no token: see --public-health */
	if (o->public_health)
		hopts.public_path = "/v1/health";
	hopts.takeover = proxy_is_path; /* the port proxy reads its body */
	d->api.pools = &d->pools;
	d->api.cfg = &d->cfg;
	int r = http_server_new(d->loop, &hopts, api_handle, &d->api, &d->http,
				&err);
	if (token) /* the server keeps its own copy */
		explicit_bzero(token, strlen(token));
	free(token);
	if (r < 0)
		return die("http", err.msg);
	if (sb_mkdir_p(env->socket_dir, 0755) < 0)
		return die(env->socket_dir, strerror(errno));
	if (http_server_listen_unix(d->http, o->socket_path, 0660, &err) < 0)
		return die(o->socket_path, err.msg);
	if (o->listen && listen_tcp(d) < 0)
		return 1;
	d->pools.keep_on_stop = o->keep_sandboxes;
	if (pools_init(&d->pools, &d->cfg, env,
		       o->orphan_timeout_s > 0 ? &d->journal : NULL, &err) < 0)
		return die("pools", err.msg);
	for (size_t i = 0; i < d->pools.n; i++)
		d->pools.items[i].secrets = &d->secrets[i];
	if (metrics_init(&d->pools) < 0 || gpu_metrics_start(d->loop) < 0)
		return die("metrics", "out of memory");
	templates_sweep(&d->cfg, o->state_dir, template_in_use, &d->pools);
	uv_signal_init(d->loop, &d->sigterm);
	uv_signal_init(d->loop, &d->sigint);
	d->sigterm.data = d->sigint.data = d;
	uv_signal_start(&d->sigterm, on_signal, SIGTERM);
	uv_signal_start(&d->sigint, on_signal, SIGINT);
	return 0;
}

/* sd_notify(3) without libsystemd: one datagram to $NOTIFY_SOCKET (a path
 * or, with a leading '@', an abstract name), when systemd runs us as
 * Type=notify. Best effort: without it nothing changes. */
static void notify_systemd(const char *state)
{
	const char *path = getenv("NOTIFY_SOCKET");
	struct sockaddr_un a = {.sun_family = AF_UNIX};
	if (!path || !*path || strlen(path) >= sizeof a.sun_path)
		return;
	memcpy(a.sun_path, path, strlen(path));
	if (a.sun_path[0] == '@')
		a.sun_path[0] = '\0';
	int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return;
	socklen_t len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) +
				    strlen(path));
	if (sendto(fd, state, strlen(state), MSG_NOSIGNAL,
		   (struct sockaddr *)&a, len) < 0)
		sb_log(SB_LOG_WARN, "sd_notify_failed", "why", strerror(errno),
		       SB_LOG_END);
	close(fd);
}

int daemon_run(const struct daemon_opts *opts)
{
	static struct daemon d;

	sb_log_setup(opts->log_format, opts->log_level);
	signal(SIGPIPE, SIG_IGN);
	d.opts = opts;
	d.loop = uv_default_loop();
	d.journal.dir.fd = -1;
	d.snapshots.dir.fd = -1;
	d.env.uid_lock_fd = -1;
	d.env.sys_netns = -1;
	if (setup(&d) != 0) {
		/* Groups of sandboxes a previous daemon kept stay for the
		 * next start that succeeds. */
		if (!journal_has_sandboxes(&d.journal)) {
			cg_root_teardown(&d.env.cg);
			egress_remove(&d.egress);
		}
		return 1;
	}
	sb_log(SB_LOG_INFO, "ready", "socket", opts->socket_path, "version",
	       SLOTBOX_VERSION, "profiles_from",
	       opts->config_path ? opts->config_path : "built-in+environment",
	       SB_LOG_END);
	notify_systemd("READY=1\nSTATUS=serving");
	uv_run(d.loop, UV_RUN_DEFAULT);
	/* Sandboxes kept for the next start keep their egress rules. */
	if (!opts->keep_sandboxes)
		egress_remove(&d.egress);
	for (size_t i = 0; d.secrets && i < d.cfg.n_profiles; i++)
		sb_secrets_free(&d.secrets[i]);
	free(d.secrets);
	close_filters(&d.cfg);
	sb_config_free(&d.cfg);
	gpu_driver_free(&d.gpu_driver);
	return d.exit_code;
}
