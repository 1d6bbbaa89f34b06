/* SPDX-License-Identifier: Apache-2.0 */
/* init.h - internals of slotbox-init, PID 1 of every sandbox.
 *
 * slotbox-init is exec'd by slotboxd inside fresh mount, pid, ipc and uts
 * namespaces (in the daemon's network namespace: it does no networking but
 * making network: egress slots' veth pairs there, slot_veth.c, and each
 * slot generation gets network, IPC and cgroup namespaces of its own,
 * slot_ns.c), with the daemon's control channel on fd 3
 * and the sandbox's cgroup directory on fd 4 (or none), and the profile's
 * seccomp program on the fd --seccomp-fd names (if any). It starts one
 * leader per slot, each PID 1 of its own pid namespace with its own mount
 * namespace and root, and restarts a slot's leader when the daemon releases
 * it. */
#ifndef SLOTBOX_INIT_INIT_H
#define SLOTBOX_INIT_INIT_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "common/err.h"
#include "init/calltree.h"

#define INIT_CTL_FD 3
#define INIT_CG_FD 4
#define INIT_MAX_SLOTS 1000
#define INIT_MAX_MASKS 8
#define INIT_MAX_CG_MORE 3

struct sock_fprog;

struct init_cfg {
	const char *id;		   /* sandbox id, for logs and hostname */
	const char *scratch;	   /* empty dir: init mounts its tmpfs there */
	const char *image_root;	   /* overlay lower layer ("/" for host) */
	const char *workspace_dir; /* where each slot sees its workspace */
	/* The profile's prepared workspace template (a root-owned tree), or
	 * NULL: the workspace is then a plain dir of the generation. */
	const char *template_dir;
	/* Host paths absent from every slot's root (whiteouts, mounts.c) */
	const char *masks[INIT_MAX_MASKS];
	int n_masks;
	int n_slots;
	uid_t uid_base; /* slot i runs as uid_base + i */
	int seccomp_fd; /* the profile's filter program, -1 if none */
	const struct sock_fprog *seccomp; /* read from it; NULL: none */
	enum cg_mode cg_mode;
	int cg_fd;		  /* sandbox cgroup dir, -1 if none */
	uint64_t tmpfs_bytes;	  /* size of the sandbox's scratch tmpfs, 0 =
				     default */
	uint64_t slot_disk_bytes; /* each slot generation's tmpfs, 0 = none */

	/* The sandbox's group in the other hierarchies (cgroup v1 cpu,
	 * memory, pids), from the daemon's CGROUPS message. */
	int cg_more[INIT_MAX_CG_MORE];
	int n_cg_more;
	/* Bit i: cg_more[i] is the daemon's group in a v1 memory hierarchy
	 * where the sandbox has none; slot N's group there is "<id>.s<N>"
	 * (made at its first call, sandbox/cgroup.h), not "s<N>" below. */
	unsigned cg_flat;
	/* The daemon's network namespace for the slots' /sys (slot_ns.c),
	 * from the CGROUPS message; -1: none, init makes one. */
	int sys_netns;
	const char *ctl_socket; /* where a restarted daemon reconnects */
	const char *gpu;	/* "all", "0,1", or NULL */
	/* Each slot's GPUs, "0;1,2;none" (item i for slot i), or NULL: every
	 * slot gets gpu. */
	const char *slot_gpus;
	/* The driver's files (daemon/gpu_driver.h): "SONAME=/real/path",
	 * "/real/path=NAME", "/host/dir". */
	const char **gpu_libs, **gpu_bins, **gpu_dirs;
	int n_gpu_libs, n_gpu_bins, n_gpu_dirs;
	bool own_net; /* network none: a netns per slot generation */
	/* network egress: ... with a veth pair each (slot_veth.c): link
	 * egress_link + 4i + (generation mod 4) of the /16 at
	 * egress_net (host order), the host ends "sb<egress_instance>x<link>"
	 * in interface group egress_group */
	bool egress;
	uint32_t egress_net, egress_link, egress_group;
	unsigned egress_instance;
	int ptys_max; /* devpts max= of each slot generation */
	/* userns: true (init_userns.c): the sandbox's own user namespace,
	 * whose root is userns_root on the host; in it the host's root
	 * shows as host_root_uid (the overflow uid). */
	bool userns;
	uid_t userns_root, host_root_uid;
	/* --slot-root: how a slot's root is entered (mounts.c); the daemon
	 * allows a chroot only when the slots' filter keeps them from making
	 * user namespaces (root_chroot.c) */
	enum { SLOT_ROOT_PIVOT, SLOT_ROOT_CHROOT, SLOT_ROOT_AUTO } slot_root;
	int orphan_timeout_s; /* how long to wait for it */
};

struct init_slot {
	int index;
	pid_t leader;  /* 0 when not running */
	unsigned gen;  /* bumps on each reset */
	bool respawn;  /* start a new leader once the old one is reaped */
	bool reset;    /* ... with a fresh workspace */
	bool seed;     /* ... that the daemon fills first (SEED_READY) */
	bool seeding;  /* waiting for SEED_DONE; no leader runs */
	int cg_fd;     /* slot's cgroup dir, -1 if none */
	int line;      /* init's end of the line to the leader, -1 if none */
	int ns_sock;   /* the next leader's namespaces, being made, or -1 */
	unsigned nets; /* network: egress: veth pairs made for the slot */
};

/* What a slot leader needs to build its root and serve calls. */
struct leader_cfg {
	const struct init_cfg *init;
	int index;
	uid_t uid;
	char gen_dir[4096]; /* scratch/s<i>/g<gen>: upper, work, root, ws,
			       and wsu, wsw, tpl with a template */
	unsigned gen;	    /* the workspace generation it serves */
	int chan;	    /* SEQPACKET channel to the daemon, -1 while none */
	int line;	    /* to init: new channels arrive here */
	int cg_fd;
	int cg_joined; /* init_cg_join_slot's mask */
};

/* init_slots.c */
int init_slots_setup(const struct init_cfg *cfg, struct init_slot *slots);
int init_slot_spawn(const struct init_cfg *cfg, struct init_slot *s);
void init_slot_release(const struct init_cfg *cfg, struct init_slot *s,
		       uint32_t flags);
void init_slot_reaped(const struct init_cfg *cfg, struct init_slot *s);
/* The leader sent something on its line (a REGEN). */
void init_slot_line(const struct init_cfg *cfg, struct init_slot *s);
/* The daemon filled generation gen of a seeding slot: start its leader. */
void init_slot_seeded(const struct init_cfg *cfg, struct init_slot *s,
		      unsigned gen);
/* The generation dir that holds a slot's own workspace files: "ws", or
 * "wsu" (the overlay's upper layer) with a template. */
const char *init_ws_data_dir(const struct init_cfg *cfg);

/* init_slots.c, for init_regen.c: make generation gen of slot s (1 when
 * made, 0 when it existed, -1 on error); discard s's current one. */
int init_gen_make(const struct init_cfg *cfg, const struct init_slot *s,
		  unsigned gen);
void init_gen_discard(const struct init_cfg *cfg, const struct init_slot *s);
/* init_regen.c: a recycled leader asked for a new generation (REGEN, fds
 * its pid and network namespaces, taken): make it, and have a helper in
 * the slot's pid namespace build its root in a new mount namespace and
 * send that to the leader; with SB_REGEN_NEW_NS in flags (network:
 * egress) also the IPC and network namespaces made ahead for the slot.
 * The slot's gen moves on. 0 or -1 (then the leader was told). */
int init_regen(const struct init_cfg *cfg, struct init_slot *s,
	       const int fds[2], uint32_t flags);
/* init_slots.c: have the slot's next network and IPC namespaces made
 * (slot_ns_prepare, network: egress: on the slot's next link). */
int init_slot_prepare_ns(const struct init_cfg *cfg, struct init_slot *s);
/* leader_regen.c: ask init for the next generation and move this leader
 * into its mount namespace (root, /proc, /dev, /tmp, workspace all new).
 * The leader's processes are gone; it is in the namespaces the next lease
 * runs in, or with new_ns (network: egress) init sends those too. 0 or -1
 * with err. */
int leader_regen(struct leader_cfg *lc, bool new_ns, struct sb_err *err);

/* init_cgroup.c: take the cgroups message from the daemon; put a new
 * leader into its slot's group in every hierarchy (the sandbox's where the
 * slot has none; in_group: it was born in s->cg_fd's, clone3 with
 * CLONE_INTO_CGROUP): a mask of the cg_more hierarchies where it is its slot's
 * own, or -1 with err. init_cg_rejoin_slot moves it into the slot groups
 * of cg_more made since (SB_MSG_CG_JOIN), adding them to *joined: the
 * mask of those, or -1/errno; init_cg_move_to_slot moves pid (of the
 * caller's pid namespace) into the slot's groups of the hierarchies in
 * mask. */
int init_cg_receive(struct init_cfg *cfg, struct sb_err *err);
int init_cg_join_slot(const struct init_cfg *cfg, const struct init_slot *s,
		      bool in_group, struct sb_err *err);
int init_cg_rejoin_slot(const struct init_cfg *cfg, int index, int *joined);
int init_cg_move_to_slot(const struct init_cfg *cfg, int index, int mask,
			 pid_t pid);
/* init_adopt.c: a daemon that restarts reconnects to the sandbox on
 * cfg->ctl_socket; init then hands every live leader a fresh channel. */
int init_adopt_listen(const struct init_cfg *cfg);
/* Accept a daemon on lfd; its connection becomes INIT_CTL_FD. 0 when
 * adopted, -1 when refused or failed (nothing changes then). */
int init_adopt_accept(const struct init_cfg *cfg, int lfd,
		      struct init_slot *slots, bool connected);
/* Give a live leader a new channel and the daemon its other end; a
 * leader that cannot take it (exiting) gets none, and the daemon a
 * SLOT_CHANNEL without a descriptor. -1 only when the daemon's send
 * fails. */
int init_slot_rechannel(const struct init_cfg *cfg, struct init_slot *s);

/* init_zygote.c: slotbox-init --zygote, serving the daemon on sock:
 * each request becomes a sandbox init running run(argc, argv). Returns
 * the exit status when the daemon's end closes. */
int init_zygote_serve(int sock, int (*run)(int argc, char **argv));

/* mounts.c: build the slot's root and enter it: 0 by pivot_root, 1 by chroot,
 * -1 on error. With enter false a chroot is left undone, the root the current
 * directory: for the regen helper, which hands its namespace over first
 * and detaches what is off the way after. */
int mounts_setup_slot_root(const struct leader_cfg *lc, bool enter,
			   struct sb_err *err);
/* root_chroot.c: detach from this mount namespace every mount off the
 * way to the current directory (nor below it); make the current directory
 * the root, after that detach; chroot into path in a namespace whose
 * detach is done or being done (by the regen helper, init_regen.c). */
int root_detach_outside(struct sb_err *err);
/* Canonical paths: is point path itself or above it; is path root, above
 * it or below it? */
bool mount_above_or_at(const char *point, const char *path);
bool mount_on_the_way(const char *path, const char *root);
/* ... or every topmost mount for which keep(point, ud) is false and whose
 * parent it keeps (what is mounted below goes with it). */
typedef bool (*root_keep_fn)(const char *point, const void *ud);
int root_detach_unless(root_keep_fn keep, const void *ud, struct sb_err *err);
/* host_mounts.c: once per sandbox, after the first leader is cloned,
 * detach from init's mount namespace the host's mounts that no slot
 * needs, so that each later leader's copy of it holds fewer. 0, or -1
 * with err. */
int init_detach_host_mounts(const struct init_cfg *cfg, struct sb_err *err);
/* init_main.c: a new descriptor of /dev/null (close-on-exec), opened at
 * start and kept, or -1 with errno. */
int init_devnull(void);
int root_chroot_here(struct sb_err *err);
int root_chroot_path(const char *path, struct sb_err *err);
int mounts_setup_sandbox(const struct init_cfg *cfg, struct sb_err *err);
/* dev_tree.c: the slot's /dev. dev_tree_share makes, once per sandbox
 * (mounts_setup_sandbox), the read-only tree its slots bind where they
 * all see the same nodes (no user namespace, no GPU); dev_tree_mount
 * mounts a slot generation's /dev below root: that tree, or a tmpfs of
 * its own, and its own devpts either way. */
int dev_tree_share(const struct init_cfg *cfg, struct sb_err *err);
/* The device nodes a slot's /dev has, in dir: made, or with bind bound
 * from the ones init staged in its /dev (init_userns.c: a user namespace
 * may not mknod). 0, or -1 with errno and the path that failed in
 * failed. */
int dev_tree_nodes(const char *dir, bool bind, char *failed, size_t len);
int dev_tree_mount(const struct init_cfg *cfg, const char *root,
		   struct sb_err *err);
/* mkdir -p; path is modified and restored. 0 or -1 with errno. */
int mounts_mkdir_p(char *path, mode_t mode);

/* upper_dirs.c, before the root overlay is mounted on the generation's
 * upper layer: hide a host path (the daemon's state and socket dirs, its
 * secrets, token and config) that the image layer would show, with a
 * whiteout in the upper layer: absent from the slot's root, and unlike a
 * mount over it, in no mountinfo; the parents made there take their lower
 * twins' owner and mode. host_path is absolute and free of symlinks (the
 * daemon resolves it). With userns, make the image's world-writable dirs
 * there ahead of any copy-up. 0 or -1 with errno. */
int upper_mask_path(const struct leader_cfg *lc, const char *host_path);
int upper_make_shared_dirs(const struct leader_cfg *lc);

/* gpu_mounts.c: the sandbox's driver tree (once, in init), and a slot's
 * device nodes and driver files (in its leader, root not yet pivoted).
 * 0 or -1 with err. */
int gpu_tree_prepare(const struct init_cfg *cfg, struct sb_err *err);
int gpu_setup_slot(const struct leader_cfg *lc, const char *root,
		   struct sb_err *err);

/* idmap.c: attach at target a read-only mount of tree in which uid and
 * gid 0 show as uid. proc is a procfs of the caller's pid namespace. 0 or
 * -1 with err. */
int idmap_mount_template(const char *tree, uid_t uid, const char *proc,
			 const char *target, struct sb_err *err);

/* slot_ns.c: the network, IPC and cgroup namespaces of a slot generation.
 * The leader is cloned with slot_ns_clone_flags(); slot_ns_setup() runs in
 * it once it is in its slot's cgroup (0 or -1 with err). */
int slot_ns_clone_flags(const struct init_cfg *cfg);
/* A slot's /sys (slot_ns.c): slot_ns_share_sys mounts, once per sandbox,
 * in init, the sysfs its slots share where they can (0 or -1 with err);
 * slot_ns_mount_sys puts a slot generation's at path (its own where it
 * cannot share one; none where the host refuses sysfs). */
int slot_ns_share_sys(const struct init_cfg *cfg, struct sb_err *err);
void slot_ns_mount_sys(const struct init_cfg *cfg, const char *path);
int slot_ns_setup(const struct init_cfg *cfg, struct sb_err *err);
/* Make new IPC and network namespaces for the caller (loopback up) and
 * open them as descriptors (fds[0] IPC, fds[1] network; arg is the
 * init_cfg): a spare_cfg make_ns hook. 0 or -1. */
int slot_ns_make(const void *arg, int fds[2]);
/* Fork a child that makes them (with network: egress also the veth pair
 * of link egress_link + link, slot_veth_make) and sends them on the
 * socket returned (-1 on failure); slot_ns_take() waits up to a second
 * for them and closes the socket. 0 or -1. */
int slot_ns_prepare(const struct init_cfg *cfg, unsigned link);
int slot_ns_take(int sock, int fds[2]);
/* slot_veth.c: unshare(flags) and give the new network namespace slot's
 * veth pair (the caller is in the daemon's network namespace); fds as
 * slot_ns_make(). 0 or -1 with errno. */
int slot_veth_make(const struct init_cfg *cfg, int slot, int flags, int fds[2]);
/* Enter namespaces slot_ns_make() opened. 0 or -1. */
int slot_ns_enter(const struct init_cfg *cfg, const int fds[2]);
/* Finish a recycled leader's (reset=false) move to new IPC and network
 * namespaces: entered says whether slot_ns_enter() did; else they are made
 * here. 0 or -1 with err. */
int slot_ns_renew(const struct init_cfg *cfg, bool entered, struct sb_err *err);

/* init_userns.c: with cfg->userns, delegate the cgroups, move into the
 * staged root (cfg->scratch becomes "", image_root the staged layers) and
 * into the sandbox's user namespace as its root. 0 or -1 with err. */
int init_userns_enter(struct init_cfg *cfg, struct sb_err *err);

/* leader.c: never returns. */
__attribute__((noreturn)) void leader_main(struct leader_cfg *lc);

/* leader_pty.c: answer a PTY_OPEN with a terminal of the slot's own devpts
 * (the leader runs in the slot's root): its master and its slave, owned
 * by the slot's uid, at the size asked. */
struct sb_msg;
void leader_pty_open(int chan, int index, uid_t uid, const struct sb_msg *m);
/* Write a FAILED message with text to a channel (best effort). */
void init_send_failed(int chan, uint32_t slot, int err, const char *text);

#endif
