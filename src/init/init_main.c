/* SPDX-License-Identifier: Apache-2.0 */
/* init_main.c - slotbox-init: PID 1 of a sandbox.
 *
 * Usage (by slotboxd only): slotbox-init --id ID --scratch DIR --image DIR
 *   --workspace-dir DIR --slots N --uid-base UID --cg-mode none|v1|v2
 *   [--mask DIR]... [--tmpfs-bytes N] [--slot-disk-bytes N]
 *   [--seccomp-fd N] [--ctl-socket PATH [--orphan-timeout S]]
 *   [--template DIR] [--uid-lock-fd N] [--network none|egress|host]
 *   [--egress-net A.B.0.0 --egress-link L --egress-group G
 *    --egress-instance K] [--ptys-max N] [--userns]
 *   [--slot-root pivot_root|chroot|auto]
 *   [--gpu all|0,1 [--slot-gpus "0;1,2;none"]
 *   [--gpu-lib SONAME=PATH]... [--gpu-bin PATH=NAME]... [--gpu-dir DIR]...]
 * with the control channel on fd 3, the sandbox cgroup dir on fd 4 and the
 * profile's seccomp program (a sealed memfd) on the --seccomp-fd, and
 * the daemon's locked uid range file on --uid-lock-fd.
 * It reaps every orphan of the sandbox, starts the slots' leaders and
 * restarts a slot's leader when the daemon releases it. If the daemon's
 * channel closes, the sandbox waits on --ctl-socket for a restarted daemon
 * to adopt it (init_adopt.c), for --orphan-timeout seconds; then, or
 * without a socket, init exits, which tears the whole sandbox down.
 *
 * `slotbox-init --zygote` (socket on fd 3) is the daemon's init zygote
 * (init_zygote.c): it forks each sandbox's init, which then runs the same
 * code on the argv above, without an exec. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "init/confine.h"
#include "init/init.h"
#include "wire/proto.h"

static struct init_slot slots[INIT_MAX_SLOTS];

static long parse_num(const char *s, long lo, long hi, const char *what)
{
	char *end;
	errno = 0;
	long v = strtol(s, &end, 10);
	if (errno || *end || end == s || v < lo || v > hi) {
		fprintf(stderr, "slotbox-init: bad %s: %s\n", what, s);
		exit(2);
	}
	return v;
}

static void parse_args(int argc, char **argv, struct init_cfg *cfg)
{
	static const struct option opts[] = {
		{"id", required_argument, NULL, 'i'},
		{"scratch", required_argument, NULL, 's'},
		{"image", required_argument, NULL, 'm'},
		{"workspace-dir", required_argument, NULL, 'w'},
		{"slots", required_argument, NULL, 'n'},
		{"uid-base", required_argument, NULL, 'u'},
		{"cg-mode", required_argument, NULL, 'c'},
		{"mask", required_argument, NULL, 'k'},
		{"tmpfs-bytes", required_argument, NULL, 't'},
		{"slot-disk-bytes", required_argument, NULL, 'D'},
		{"seccomp-fd", required_argument, NULL, 'f'},
		{"ctl-socket", required_argument, NULL, 'S'},
		{"gpu", required_argument, NULL, 'G'},
		{"orphan-timeout", required_argument, NULL, 'O'},
		{"template", required_argument, NULL, 'T'},
		{"slot-gpus", required_argument, NULL, 'g'},
		{"gpu-lib", required_argument, NULL, 'L'},
		{"gpu-bin", required_argument, NULL, 'B'},
		{"gpu-dir", required_argument, NULL, 'R'},
		{"network", required_argument, NULL, 'N'},
		{"ptys-max", required_argument, NULL, 'P'},
		{"egress-net", required_argument, NULL, 'e'},
		{"egress-link", required_argument, NULL, 'l'},
		{"egress-group", required_argument, NULL, 'r'},
		{"egress-instance", required_argument, NULL, 'K'},
		{"uid-lock-fd", required_argument, NULL, 'U'},
		{"userns", no_argument, NULL, 'Y'},
		{"slot-root", required_argument, NULL, 'C'},
		{NULL, 0, NULL, 0},
	};
	int c;

	memset(cfg, 0, sizeof *cfg);
	/* no more of each than there are arguments */
	cfg->gpu_libs = calloc((size_t)argc, sizeof *cfg->gpu_libs);
	cfg->gpu_bins = calloc((size_t)argc, sizeof *cfg->gpu_bins);
	cfg->gpu_dirs = calloc((size_t)argc, sizeof *cfg->gpu_dirs);
	if (!cfg->gpu_libs || !cfg->gpu_bins || !cfg->gpu_dirs) {
		fprintf(stderr, "slotbox-init: out of memory\n");
		exit(2);
	}
	cfg->cg_fd = -1;
	cfg->orphan_timeout_s = 600;
	cfg->seccomp_fd = -1;
	cfg->sys_netns = -1;
	cfg->own_net = true;
	cfg->ptys_max = 64;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'i':
			cfg->id = optarg;
			break;
		case 's':
			cfg->scratch = optarg;
			break;
		case 'm':
			cfg->image_root = optarg;
			break;
		case 'w':
			cfg->workspace_dir = optarg;
			break;
		case 'n':
			cfg->n_slots = (int)parse_num(optarg, 1, INIT_MAX_SLOTS,
						      "--slots");
			break;
		case 'u':
			cfg->uid_base = (uid_t)parse_num(optarg, 1, 0x7fff0000L,
							 "--uid-base");
			break;
		case 'c':
			cfg->cg_mode = strcmp(optarg, "v2") == 0 ? CG_V2
				       : strcmp(optarg, "v1") == 0
					       ? CG_V1_FREEZER
					       : CG_NONE;
			break;
		case 'k':
			if (cfg->n_masks < INIT_MAX_MASKS)
				cfg->masks[cfg->n_masks++] = optarg;
			break;
		case 't':
			cfg->tmpfs_bytes = (uint64_t)parse_num(
				optarg, 0, 0x7fffffffffffffffL,
				"--tmpfs-bytes");
			break;
		case 'D':
			cfg->slot_disk_bytes = (uint64_t)parse_num(
				optarg, 0, 0x7fffffffffffffffL,
				"--slot-disk-bytes");
			break;
		case 'f':
			cfg->seccomp_fd =
				(int)parse_num(optarg, 3, 1023, "--seccomp-fd");
			break;
		case 'S':
			cfg->ctl_socket = optarg;
			break;
		case 'G':
			cfg->gpu = optarg;
			break;
		case 'T':
			cfg->template_dir = optarg;
			break;
		case 'g':
			cfg->slot_gpus = optarg;
			break;
		case 'L':
			cfg->gpu_libs[cfg->n_gpu_libs++] = optarg;
			break;
		case 'B':
			cfg->gpu_bins[cfg->n_gpu_bins++] = optarg;
			break;
		case 'R':
			cfg->gpu_dirs[cfg->n_gpu_dirs++] = optarg;
			break;
		case 'N':
			cfg->egress = strcmp(optarg, "egress") == 0;
			if (strcmp(optarg, "none") != 0 && !cfg->egress &&
			    strcmp(optarg, "host") != 0) {
				fprintf(stderr,
					"slotbox-init: bad --network: %s\n",
					optarg);
				exit(2);
			}
			cfg->own_net = strcmp(optarg, "host") != 0;
			break;
		case 'e': {
			struct in_addr a;
			if (inet_pton(AF_INET, optarg, &a) != 1) {
				fprintf(stderr,
					"slotbox-init: bad --egress-net: %s\n",
					optarg);
				exit(2);
			}
			cfg->egress_net = ntohl(a.s_addr);
			break;
		}
		case 'l':
			cfg->egress_link = (uint32_t)parse_num(optarg, 0, 32767,
							       "--egress-link");
			break;
		case 'r':
			cfg->egress_group = (uint32_t)parse_num(
				optarg, 0, UINT32_MAX, "--egress-group");
			break;
		case 'K':
			cfg->egress_instance = (unsigned)parse_num(
				optarg, 0, 255, "--egress-instance");
			break;
		case 'P':
			cfg->ptys_max =
				(int)parse_num(optarg, 1, 4096, "--ptys-max");
			break;
		case 'U': {
			/* The daemon's uid range stays held while we live
			 * (uid_range.h); nothing we exec gets it. */
			int fd = (int)parse_num(optarg, 3, 1023,
						"--uid-lock-fd");
			fcntl(fd, F_SETFD, FD_CLOEXEC);
			break;
		}
		case 'Y':
			cfg->userns = true;
			break;
		case 'C':
			if (strcmp(optarg, "chroot") == 0)
				cfg->slot_root = SLOT_ROOT_CHROOT;
			else if (strcmp(optarg, "auto") == 0)
				cfg->slot_root = SLOT_ROOT_AUTO;
			else if (strcmp(optarg, "pivot_root") == 0)
				cfg->slot_root = SLOT_ROOT_PIVOT;
			else {
				fprintf(stderr,
					"slotbox-init: bad --slot-root: %s\n",
					optarg);
				exit(2);
			}
			break;
		case 'O':
			cfg->orphan_timeout_s = (int)parse_num(
				optarg, 1, 30L * 86400, "--orphan-timeout");
			break;
		default:
			exit(2);
		}
	}
	if (!cfg->id || !cfg->scratch || !cfg->image_root ||
	    !cfg->workspace_dir || !cfg->n_slots || !cfg->uid_base) {
		fprintf(stderr, "slotbox-init: missing arguments (run by "
				"slotboxd only)\n");
		exit(2);
	}
	/* the sandbox's root: the last uid of its 1000 (profile.c keeps
	 * slots_per_sandbox below it) */
	cfg->userns_root = cfg->uid_base + 999;
	if (cfg->userns && cfg->n_slots > 999) {
		fprintf(stderr, "slotbox-init: --userns allows 999 slots\n");
		exit(2);
	}
	if (cfg->cg_mode != CG_NONE && fcntl(INIT_CG_FD, F_GETFD) >= 0) {
		cfg->cg_fd = INIT_CG_FD;
		fcntl(INIT_CG_FD, F_SETFD, FD_CLOEXEC);
	} else {
		cfg->cg_mode = CG_NONE;
	}
}

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void reap(const struct init_cfg *cfg)
{
	int st;
	pid_t pid;

	while ((pid = waitpid(-1, &st, WNOHANG)) > 0) {
		for (int i = 0; i < cfg->n_slots; i++) {
			if (slots[i].leader == pid) {
				init_slot_reaped(cfg, &slots[i]);
				break;
			}
		}
	}
}

/* Returns 0 to go on, -1 when the daemon is gone. */
static int handle_ctl(const struct init_cfg *cfg)
{
	struct sb_msg m;
	int fds[SB_MSG_MAX_FDS];
	size_t nfds;
	int r = sb_msg_recv(INIT_CTL_FD, &m, fds, &nfds);

	if (r == 0)
		return -1;
	if (r < 0)
		return errno == EAGAIN || errno == EINTR || errno == EPROTO
			       ? 0
			       : -1;
	for (size_t i = 0; i < nfds; i++)
		close(fds[i]);
	if (m.type == SB_MSG_SLOT_RELEASE && m.slot < (uint32_t)cfg->n_slots)
		init_slot_release(cfg, &slots[m.slot], m.flags);
	else if (m.type == SB_MSG_SEED_DONE && m.slot < (uint32_t)cfg->n_slots)
		init_slot_seeded(cfg, &slots[m.slot], m.gen);
	return 0;
}

static int devnull_fd = -1;

int init_devnull(void)
{
	if (devnull_fd < 0) {
		errno = ENOENT;
		return -1;
	}
	return fcntl(devnull_fd, F_DUPFD_CLOEXEC, 0);
}

/* The daemon's channel is gone. With a socket to be found on, the sandbox
 * waits (up to orphan_timeout_s) for a restarted daemon; else it ends. */
static bool orphaned(const struct init_cfg *cfg, int lfd)
{
	if (lfd < 0)
		return false;
	/* Keep fd 3 taken (by /dev/null) so that nothing else lands there
	 * before a new daemon's connection does. */
	int nul = init_devnull();
	if (nul < 0 || dup3(nul, INIT_CTL_FD, O_CLOEXEC) < 0)
		close(INIT_CTL_FD);
	if (nul >= 0)
		close(nul);
	fprintf(stderr,
		"slotbox-init %s: daemon gone; waiting %d s for it to "
		"return\n",
		cfg->id, cfg->orphan_timeout_s);
	return true;
}

static int serve(const struct init_cfg *cfg, int sfd, int lfd)
{
	bool connected = true;
	double orphan_since = 0;
	for (;;) {
		/* and each leader's line, where a recycled leader asks for
		 * its next generation (init_regen.c) */
		static struct pollfd pfd[3 + INIT_MAX_SLOTS];
		pfd[0] = (struct pollfd){.fd = connected ? INIT_CTL_FD : -1,
					 .events = POLLIN};
		pfd[1] = (struct pollfd){.fd = sfd, .events = POLLIN};
		pfd[2] = (struct pollfd){.fd = lfd, .events = POLLIN};
		for (int i = 0; i < cfg->n_slots; i++)
			pfd[3 + i] = (struct pollfd){.fd = slots[i].line,
						     .events = POLLIN};
		int wait_ms = -1;
		if (!connected) {
			double left =
				orphan_since + cfg->orphan_timeout_s - now_s();
			if (left <= 0) {
				fprintf(stderr,
					"slotbox-init %s: no daemon came "
					"back; ending the sandbox\n",
					cfg->id);
				return 0;
			}
			wait_ms = (int)(left * 1000) + 1;
		}
		if (poll(pfd, 3 + (nfds_t)cfg->n_slots, wait_ms) < 0) {
			if (errno == EINTR)
				continue;
			return 1;
		}
		if (pfd[1].revents & POLLIN) {
			struct signalfd_siginfo si;
			while (read(sfd, &si, sizeof si) == sizeof si) {
				if (si.ssi_signo == SIGTERM ||
				    si.ssi_signo == SIGINT)
					return 0;
			}
			reap(cfg);
		}
		if (connected &&
		    (pfd[0].revents & (POLLIN | POLLHUP | POLLERR)) &&
		    handle_ctl(cfg) < 0) {
			if (!orphaned(cfg, lfd))
				return 0; /* daemon gone: the sandbox ends */
			connected = false;
			orphan_since = now_s();
		}
		if (pfd[2].revents & POLLIN) {
			if (init_adopt_accept(cfg, lfd, slots, connected) == 0)
				connected = true;
		}
		for (int i = 0; i < cfg->n_slots; i++)
			if (slots[i].line >= 0 &&
			    slots[i].line == pfd[3 + i].fd &&
			    (pfd[3 + i].revents & (POLLIN | POLLHUP | POLLERR)))
				init_slot_line(cfg, &slots[i]);
	}
}

static int init_run(int argc, char **argv)
{
	struct init_cfg cfg;
	struct sb_err err = {0};
	sigset_t mask;

	parse_args(argc, argv, &cfg);
	/* Our stderr may be a pipe to a daemon that died; a write to it must
	 * not kill the sandbox (leaders restore the default for commands). */
	signal(SIGPIPE, SIG_IGN);
	/* Our stdio goes to the daemon's log; keep it but never read it.
	 * /dev/null is kept open: the host's /dev is detached from init's
	 * mount namespace once the first leader is cloned (host_mounts.c). */
	devnull_fd = open("/dev/null", O_RDWR | O_CLOEXEC);
	if (devnull_fd >= 0)
		dup2(devnull_fd, STDIN_FILENO);
	sigemptyset(&mask);
	sigaddset(&mask, SIGCHLD);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigprocmask(SIG_BLOCK, &mask, NULL);
	int sfd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
	/* No filter is a profile's choice; a filter we cannot read stops
	 * the sandbox rather than running its commands unfiltered. */
	if (cfg.seccomp_fd >= 0 &&
	    confine_load_filter(cfg.seccomp_fd, &cfg.seccomp, &err) < 0) {
		init_send_failed(INIT_CTL_FD, 0, errno, err.msg);
		return 1;
	}
	if (sfd < 0 || init_cg_receive(&cfg, &err) < 0 ||
	    mounts_setup_sandbox(&cfg, &err) < 0 ||
	    gpu_tree_prepare(&cfg, &err) < 0 ||
	    init_slots_setup(&cfg, slots) < 0) {
		if (sfd < 0 || !err.msg[0])
			sb_err_sys(&err, "init setup");
		init_send_failed(INIT_CTL_FD, 0, errno, err.msg);
		return 1;
	}
	/* Without the socket the sandbox cannot outlive its daemon, which
	 * is how it was before: a degraded mode, not a reason to fail. Made
	 * before a user namespace: its dir is the daemon's. */
	int lfd = cfg.ctl_socket ? init_adopt_listen(&cfg) : -1;
	if (cfg.ctl_socket && lfd < 0)
		fprintf(stderr, "slotbox-init %s: listen on %s: %s\n", cfg.id,
			cfg.ctl_socket, strerror(errno));
	if (cfg.userns && init_userns_enter(&cfg, &err) < 0) {
		init_send_failed(INIT_CTL_FD, 0, errno, err.msg);
		return 1;
	}
	struct sb_msg hello = {.type = SB_MSG_HELLO,
			       .slot = (uint32_t)cfg.n_slots};
	if (sb_msg_send(INIT_CTL_FD, &hello, NULL, 0) < 0)
		return 1;
	for (int i = 0; i < cfg.n_slots; i++) {
		if (init_slot_spawn(&cfg, &slots[i]) < 0) {
			sb_err_sys(&err, "start slot %d", i);
			init_send_failed(INIT_CTL_FD, (uint32_t)i, errno,
					 err.msg);
		}
		/* After the first leader is cloned, not before: its copy
		 * of our namespace is a little larger, but the first slot,
		 * which a cold acquire waits for, no longer waits for the
		 * detach (/proc/self/mountinfo, one umount2 and an RCU
		 * grace period per topmost mount), which runs while that
		 * leader builds its root. Every later leader's copy, and
		 * every slot restart's, is the small one. */
		if (i == 0 && init_detach_host_mounts(&cfg, &err) < 0) {
			init_send_failed(INIT_CTL_FD, 0, errno, err.msg);
			return 1;
		}
	}
	return serve(&cfg, sfd, lfd);
}

/* "slotbox-init --zygote" (fd 3 its socket): forks inits on request
 * (init_zygote.c); else this is one sandbox's init, exec'd directly. */
int main(int argc, char **argv)
{
	if (argc == 2 && strcmp(argv[1], "--zygote") == 0)
		return init_zygote_serve(INIT_CTL_FD, init_run);
	if (argc == 2 && strcmp(argv[1], "--version") == 0) {
		puts("slotbox-init " SLOTBOX_VERSION);
		return 0;
	}
	return init_run(argc, argv);
}
