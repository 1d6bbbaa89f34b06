/* SPDX-License-Identifier: Apache-2.0 */
/* sandbox.h - the daemon's handle on one sandbox and its slots.
 *
 * This module is mechanism only: it starts slotbox-init in fresh
 * namespaces (clone3, no allocation between clone and exec), talks the
 * proto.h messages, watches the init through a pidfd, and tells its owner
 * (the pool) what happened through struct sandbox_ops. It never blocks the
 * event loop: every fd is non-blocking and polled by libuv, and the slow
 * half of a start (cgroups, the clone) runs in the launcher's thread. */
#ifndef SLOTBOX_SANDBOX_SANDBOX_H
#define SLOTBOX_SANDBOX_SANDBOX_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/resource.h>
#include <sys/types.h>
#include <uv.h>

#include "common/err.h"
#include "config/profile.h"
#include "sandbox/cgroup.h"
#include "sandbox/exec_pace.h"
#include "sandbox/zygote.h"
#include "store/spares.h"
#include "wire/sendq.h"

struct sandbox;
struct sbx_launcher;
struct sbx_slot;
struct exec_call;
struct sb_msg;

#define SBX_MAX_MASKS 8

/* Things every sandbox of this daemon shares. */
/* The environment of every init (and its zygote). */
#define SBX_INIT_PATH_ENV                                                      \
	"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

struct sbx_env {
	uv_loop_t *loop;
	char init_path[PATH_MAX]; /* slotbox-init binary */
	struct sbx_zygote zygote; /* forks inits (zygote.h); zeroed: none */
	/* starts sandboxes off the loop (launcher.h); NULL until the first */
	struct sbx_launcher *launcher;
	char state_dir[PATH_MAX];
	char socket_dir[PATH_MAX];
	char image_store[PATH_MAX]; /* <state>/images */
	struct cg_root cg;
	int devnull; /* host /dev/null, stdin of calls without stdin */
	/* The network namespace of the slots' /sys (sys_netns.c), sent to
	 * every init; -1: none (each init makes one). */
	int sys_netns;
	const struct sandbox_ops *ops;
	size_t slot_data_size; /* of each slot's owner_data */
	/* How long a sandbox waits for a restarted daemon to adopt it after
	 * losing this one; 0: it ends with the daemon. */
	int orphan_timeout_s;
	/* --slot-root: "auto" (NULL), "chroot" or "pivot_root" for profiles
	 * whose filter refuses user namespaces (sb_slot_root) */
	const char *slot_root;
	/* The descriptor limit the daemon was started with (it raises its
	 * own); sandboxes get this one. */
	struct rlimit nofile;
	bool nofile_set;
	/* slotbox-init arguments binding the NVIDIA driver's files into
	 * GPU profiles' slots (daemon/gpu_driver.h); none without. */
	char *const *gpu_args;
	size_t n_gpu_args;
	/* Host paths slots must not see (state and socket dirs, secrets
	 * dir, token and config files), absolute and free of symlinks. */
	char masks[SBX_MAX_MASKS][PATH_MAX];
	int n_masks;
	/* This daemon's slot uid range (uid_alloc.h): its first uid, and the
	 * locked range file every init inherits (-1: none). */
	uid_t uid_base;
	int uid_lock_fd;
	/* network: egress (daemon/egress.h): the egress network's first
	 * address ("10.200.0.0"), links per sandbox number (0: no egress
	 * profile) and the daemon's number K, unique on the host. */
	char egress_net[16];
	unsigned egress_stride;
	unsigned egress_instance;
	/* <state>/sandboxes and its spare scratch dirs (scratch.c), opened
	 * at the first sandbox. */
	bool scratch_open;
	int scratch_fd;
	struct store_spares scratch_spares;
};

struct sandbox_ops {
	void (*slot_ready)(struct sbx_slot *slot);
	void (*slot_broken)(struct sbx_slot *slot, const char *why);
	/* The slow half of sandbox_start() ended (launcher.h): init runs
	 * (failed NULL), or the start failed, saying why, and nothing of it
	 * is left running: the owner frees the sandbox with sandbox_free(),
	 * and no other op follows. */
	void (*sandbox_launched)(struct sandbox *sb, const char *failed);
	void (*sandbox_up)(struct sandbox *sb);
	/* After sandbox_seed_begin(): the slot's new generation is ready to
	 * be filled (err 0), or could not be made (err, why). */
	void (*slot_seed_ready)(struct sbx_slot *slot, int err,
				const char *why);
	/* Init is dead and every slot channel closed. The owner frees the
	 * sandbox with sandbox_free() when it no longer refers to it. */
	void (*sandbox_gone)(struct sandbox *sb, const char *why);
};

struct sbx_chan; /* a slot's channel to its leader (private) */

/* Something that lives as long as a slot's lease generation (a port
 * proxy's connection): lease_end runs once when the lease ends (release,
 * reset, expiry) or its leader goes (a new generation, a lost sandbox);
 * netns_ready runs once for a user waiting in sandbox_slot_netns (nsfd
 * borrowed, valid during the call; -1 and err on failure). Both may free
 * the user; neither may join or leave other users. */
struct sbx_lease_user {
	void (*netns_ready)(struct sbx_lease_user *u, int nsfd, int err);
	void (*lease_end)(struct sbx_lease_user *u);
	struct sbx_lease_user *prev, *next;
	bool waiting; /* for netns_ready */
};

struct sbx_slot {
	struct sandbox *sb;
	int index;
	/* "<sandbox>_slot_<i>" while free; "<sandbox>_slot_<i>.<n>" while
	 * leased, n counting its leases, so that a holder whose lease ended
	 * (released, expired) cannot reach the slot's next holder. */
	char id[96];
	size_t base_len; /* strlen of the "<sandbox>_slot_<i>" part */
	/* The owner's state of this slot (the pool's lease: pool_slot.h),
	 * env->slot_data_size zeroed bytes; this module never reads it. */
	void *owner_data;
	uid_t uid;
	struct sbx_chan *chan;
	struct exec_call *calls; /* in flight, linked through exec_call */
	int n_calls;		 /* of them, those of API calls */
	int n_bg;		 /* of them, background processes' */
	void *procs;		 /* the API's background processes */
	int n_held; /* of the calls, waiting for a place in the leader (exec.c)
		     */
	unsigned gen;	/* its workspace's generation (init) */
	bool seeding;	/* between seed_begin and seed_end */
	int oom_fd;	/* its OOM kill counter file, -1 until first read */
	bool recycles;	/* its leader understands SB_MSG_RECYCLE */
	bool recycling; /* sent one, waiting for the HELLO */
	bool resets;	/* ... also with SB_RECYCLE_RESET (a new generation) */
	bool recycle_reset; /* the one sent had SB_RECYCLE_RESET */
	bool no_bash;	    /* its root has no /bin/bash (leader's HELLO) */
	/* its leader takes a call's payload inside the EXEC's packet
	 * (SB_HELLO_INLINE): no memfd per call */
	bool inline_payload;
	/* The lease generation's network namespace (slot_netns.c): an nsfs
	 * descriptor once the leader sent it, -1 before; users ride on it. */
	int netns_fd;
	uint64_t netns_ask; /* id of the request in flight, 0 if none */
	struct sbx_lease_user *users;
	/* its leader runs background processes and terminals (a leader of
	 * an older build, adopted, does not) */
	bool processes;
	/* its memory and cpu limits are made (cg_slot_limits_on), and in
	 * cgroup v1 each new leader is told to join their groups
	 * (limits_join) */
	bool limits_on, limits_join;
	/* how long its calls usually take: when their pipes join the loop
	 * (exec_pace.h) */
	struct exec_pace pace;
};

enum sbx_state { SBX_STARTING, SBX_RUNNING, SBX_DEAD };

#define SBX_ID_MAX 64 /* a sandbox id's bytes, its NUL included */

struct sandbox {
	char id[SBX_ID_MAX];
	struct sbx_env *env;
	const struct sb_profile *profile;
	void *owner; /* the pool */
	int number;  /* small integer unique among live sandboxes (uids) */
	/* Its slots' uids: uid_base + number * SBX_UIDS_PER_SANDBOX + i. */
	uid_t uid_base;
	enum sbx_state state;
	pid_t pid;
	int pidfd;
	int ctl;
	struct sb_sendq ctl_q; /* to init, waiting for room (sendq.h) */
	bool ctl_eof;	       /* init closed its end */
	uv_poll_t ctl_poll;
	uv_poll_t pid_poll;
	int open_handles;
	bool freeing;
	/* Kept by the pool (pool_slot.h, pool_slot_move): how many of its
	 * slots are available, and how many acquired, executing or broken. */
	int pool_available, pool_settled;
	/* its place in the pool's list order (1, 2, ...; 0 until linked) */
	uint64_t pool_seq;
	/* The pool's list of its sandboxes that have a slot not settled
	 * (pool.h, open): a full sandbox is not on it. */
	struct sandbox *pool_open_next, *pool_open_prev;
	bool pool_open;
	double created_mono;
	double created_wall;
	uint64_t start_time;	 /* of init's pid, in clock ticks since boot */
	char ctl_path[PATH_MAX]; /* init listens here for a new daemon */
	char lowerdir[4096];	 /* the root overlay's lower layers */
	char **image_env;	 /* "K=V" from a store image's config */
	size_t n_image_env;
	double idle_since; /* monotonic, when the last lease ended */
	int cg_fd;
	char scratch[PATH_MAX];
	int n_slots;
	struct sbx_slot *slots;
	void *slot_data;      /* the slots' owner_data, in one block */
	struct sandbox *next; /* pool's list */
	bool up;	      /* init said hello */
	bool retiring;	      /* killed on purpose (recycle, shutdown) */
	bool draining;	      /* past max_lifetime: no new leases */
	char lost_reason[192];
	/* The workspace template its slots start from (templates.h): its
	 * id, "" for none. Fixed for the sandbox's life. */
	char template_id[17];
	/* In a user namespace of its own (userns: true): init's root is
	 * its scratch tmpfs, so the scratch dir is /proc/<pid>/root. */
	bool userns;
	/* Its launch (launcher.h) has not been reported yet: pid, pidfd,
	 * ctl, cg_fd and start_time are the launcher's until then, and a
	 * kill asked meanwhile waits for it (kill_asked). */
	bool launching, kill_asked;
	struct sb_err launch_err; /* why the launch failed */
};

/* Start a sandbox for profile; slots become usable as ops->slot_ready
 * fires. number selects the slots' uids (env->uid_base + number*1000 +
 * i). Returns once the start is queued (launcher.h): ops->sandbox_launched
 * says later whether init runs. -1 only for what fails at once. */
int sandbox_start(struct sbx_env *env, const struct sb_profile *profile,
		  void *owner, int number, struct sandbox **out,
		  struct sb_err *err);

/* End a slot's lease: kill its processes (in-flight calls fail with
 * "released"), reset the workspace when asked; ops->slot_ready fires when
 * the slot can be leased again. */
void sandbox_release_slot(struct sbx_slot *slot, bool reset);

/* What the journal knows of a sandbox a previous daemon started. */
struct sbx_record {
	const char *id;
	int number;
	pid_t pid;
	uint64_t start_time;
	int n_slots;
	double created_wall;
	const char *template_id; /* "" or NULL: none */
	uid_t uid_base; /* of its daemon's range; 0: SBX_UID_BASE (older) */
};

/* Take over a running sandbox after a restart: check that rec->pid is
 * still that init (start time), connect to its control socket and get a
 * channel to each live leader. Its slots come up as ops->slot_ready fires
 * (an unleased one) or stay as the caller sets them (a lease). */
int sandbox_adopt(struct sbx_env *env, const struct sb_profile *profile,
		  void *owner, const struct sbx_record *rec,
		  struct sandbox **out, struct sb_err *err);

/* Kill and clean up what a record names when it cannot be adopted: init
 * (only if its pid is still that process), cgroups, scratch dir, socket. */
void sandbox_reap_record(struct sbx_env *env, const struct sbx_record *rec);

/* A record that could not be adopted, as a dead sandbox (state SBX_DEAD,
 * every slot SLOT_ERROR naming why; no process, channel or libuv handle):
 * the pool keeps it while leases restored onto it are held, so that their
 * holders get sandbox_lost, as for a sandbox lost while the daemon runs,
 * until they release. sandbox_free() frees it. NULL: out of memory. */
struct sandbox *sandbox_tombstone(struct sbx_env *env,
				  const struct sb_profile *profile, void *owner,
				  const struct sbx_record *rec,
				  const char *why);

/* Remove what earlier daemons left in the state dir and the cgroups:
 * every sandbox whose id keep() does not claim. */
void sandbox_sweep(struct sbx_env *env, bool (*keep)(const char *id, void *ud),
		   void *ud);

/* Let go of a live sandbox without ending it (a stop that keeps the
 * sandboxes for the next daemon): channels close, processes live on. The
 * sandbox is freed; no ops callback follows. */
void sandbox_detach(struct sandbox *sb);

/* Dead, or its init has exited and the loop has not yet heard (a copy
 * through its root that failed meanwhile is a lost sandbox). */
bool sandbox_gone(const struct sandbox *sb);

/* Kill the sandbox; ops->sandbox_gone follows. */
void sandbox_kill(struct sandbox *sb);

/* Free a dead sandbox (after sandbox_gone): removes its cgroup and scratch
 * dir; the memory goes once libuv has closed its handles. */
void sandbox_free(struct sandbox *sb);

/* Remove the spare scratch dirs kept for new sandboxes (scratch.c) and
 * close <state>/sandboxes: a daemon that stops leaves none behind. */
void sandbox_scratch_close(struct sbx_env *env);

/* Seeding (fork, snapshot restore): restart a slot that nobody uses with
 * a new generation and stop before its leader starts; ops->slot_seed_ready
 * fires once the generation's workspace dir can be filled (at the path
 * sandbox_ws_path() gives for slot->gen). sandbox_seed_end() then starts
 * the leader (ops->slot_ready follows); sandbox_release_slot() instead
 * drops the seeded generation and starts afresh. 0 or -1/errno. */
int sandbox_seed_begin(struct sbx_slot *slot);
int sandbox_seed_end(struct sbx_slot *slot);

/* Where the daemon reaches the dir holding the slot's own workspace files
 * of generation gen (through init's root: the scratch tmpfs is mounted in
 * the sandbox's mount namespace only). With a template that is the
 * overlay's upper layer: a copy of it is the workspace's difference from
 * the template. */
void sandbox_ws_path(const struct sbx_slot *slot, unsigned gen, char *buf,
		     size_t len);

/* Before a slot's first call or file operation: its memory and cpu
 * groups with the profile's per-slot limits (cgroup.h, slot_limits_lazy),
 * once. 0 or -1 with err. */
int sandbox_slot_limits_on(struct sbx_slot *slot, struct sb_err *err);

/* After a call or file operation has been sent: make the group the next
 * slot's first call will take, where one was wanted (cg_stock.h). */
void sandbox_slot_limits_ahead(struct sbx_slot *slot);
/* The OOM kills in the slot's memory group so far (cg_slot_oom_kills,
 * slot->oom_fd its cache): 0, or -1 where they are not counted. */
int sandbox_slot_oom_kills(struct sbx_slot *slot, uint64_t *count);

/* sys_netns.c: a network namespace holding only loopback, for the slots'
 * /sys: its descriptor, or -1 with errno. */
int sbx_sys_netns_make(void);

/* Send a message to a slot's leader with fds; 0 or -1/errno. */
int sandbox_slot_send(struct sbx_slot *slot, const void *msg, const int *fds,
		      size_t nfds);

/* The same with body[0..body_len) after the message in its packet. */
int sandbox_slot_send_body(struct sbx_slot *slot, const void *msg,
			   const void *body, size_t body_len, const int *fds,
			   size_t nfds);

/* slot_netns.c: the lease's network namespace and its users. */
void sandbox_lease_join(struct sbx_slot *slot, struct sbx_lease_user *u);
void sandbox_lease_leave(struct sbx_slot *slot, struct sbx_lease_user *u);
/* The slot's network namespace: its descriptor (borrowed, valid until the
 * lease ends) when known; else -1 with errno EINPROGRESS: the leader is
 * asked and u (joined) gets netns_ready; or -1 with another errno. */
int sandbox_slot_netns(struct sbx_slot *slot, struct sbx_lease_user *u);
/* The lease generation ended: every user (waiting or not) gets lease_end
 * and leaves, the descriptor is closed, a late answer is ignored. */
void sandbox_lease_end(struct sbx_slot *slot);
/* The leader's SB_MSG_NETNS answer; takes fds[0] (set to -1). */
void sandbox_netns_reply(struct sbx_slot *slot, const struct sb_msg *m,
			 int *fds, size_t nfds);

#define SBX_UID_BASE 1000000u
#define SBX_UIDS_PER_SANDBOX 1000u
/* A daemon's uid range (uid_range.h) holds this many sandboxes' uids. */
#define SBX_RANGE_SANDBOXES 10000
#define SBX_RANGE_UIDS (SBX_RANGE_SANDBOXES * SBX_UIDS_PER_SANDBOX)

#endif
