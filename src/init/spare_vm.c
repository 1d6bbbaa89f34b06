/* SPDX-License-Identifier: Apache-2.0 */
/* spare_vm.c - a spare that shares the leader's memory (see spare_vm.h). */
#include "init/spare_vm.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "init/confine.h"
#include "init/raw_syscall.h"
#include "init/spare.h"
#include "init/spare_child.h"
#include "wire/fdpass.h"
#include "wire/proto.h"

#ifdef SB_HAVE_RAW_SYSCALL

/* A spare's region, at the top of its stack mapping: [guard page | stack
 * | this]. The child reads the first part; the rest is the leader's. */
struct spare_vm {
	/* set before the clone, read by the child */
	int sock;
	int dir_fd;
	bool join;	       /* move itself: it was not born in its group */
	const char *join_file; /* calltree_self_file */
	uid_t uid;
	const struct sock_fprog *filter;
	/* the call: set by the leader before it hands it over */
	char *const *argv;
	char *const *envp;
	const char *cwd;
	/* the next spare's region: set by the leader before it asks for it
	 * (MSG_NEXT), read by the child then */
	struct spare_vm *successor;
	/* A spare's pid. The leader sets it for one it clones; for a
	 * successor the kernel writes it (CLONE_PARENT_SETTID) before the
	 * successor runs, 0 until then. */
	pid_t pid;
	/* the leader's own */
	struct spare_vm *next; /* live (until reaped) or cached */
	pid_t maker;	       /* a successor: its maker's pid, until reaped */
	size_t size;
	char *payload; /* its call's payload, read here (kept for the next) */
	size_t payload_cap;
	struct sb_payload p;
};

/* What the leader sends a spare: a call (stdin, stdout, stderr) or the
 * socket of the next spare it is to clone. */
#define MSG_CALL 'x'
#define MSG_NEXT 'n'

#define REGION_MIN (64u * 1024u)
#define REGION_CACHE 2
/* a cached region keeps a payload buffer up to this size */
#define PAYLOAD_KEEP (64u * 1024u)
#define HEAD_SIZE ((sizeof(struct spare_vm) + 63u) & ~(size_t)63u)

static struct spare_vm *live, *cached;
static int n_cached;
static bool no_clone3;

bool spare_vm_usable(void)
{
	return !no_clone3;
}

/* ---- the child: raw system calls only (raw_syscall.h) ---- */

/* A message: one byte with stdin, stdout and stderr (MSG_CALL) or with
 * one socket (MSG_NEXT). 1, 0 when the leader closed its end (retired),
 * or -errno. */
SB_RAW_CHILD static long recv_msg(int sock, char *what, int fds[3])
{
	struct iovec iov;
	union {
		struct cmsghdr h;
		char buf[CMSG_SPACE(3 * sizeof(int))];
	} u;
	struct msghdr mh;
	long n;

	iov.iov_base = what;
	iov.iov_len = 1;
	__builtin_memset(&u, 0, sizeof u);
	__builtin_memset(&mh, 0, sizeof mh);
	mh.msg_iov = &iov;
	mh.msg_iovlen = 1;
	mh.msg_control = u.buf;
	mh.msg_controllen = sizeof u.buf;
	do
		n = sb_raw3(SYS_recvmsg, sock, &mh, MSG_CMSG_CLOEXEC);
	while (n == -EINTR);
	if (n <= 0)
		return n;
	struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
	int want = *what == MSG_CALL ? 3 : 1;
	if (!c || (mh.msg_flags & MSG_CTRUNC) || c->cmsg_level != SOL_SOCKET ||
	    c->cmsg_type != SCM_RIGHTS ||
	    c->cmsg_len != CMSG_LEN((size_t)want * sizeof(int)) ||
	    (*what != MSG_CALL && *what != MSG_NEXT))
		return -EPROTO;
	__builtin_memcpy(fds, CMSG_DATA(c), (size_t)want * sizeof(int));
	return 1;
}

SB_RAW_CHILD static int successor_main(void *arg);

/* Clone the next spare, sharing the memory as this one does and with the
 * leader as its parent (CLONE_PARENT: the leader reaps it), onto the
 * region the leader made for it. It is born in this spare's call group,
 * as its uid, without capabilities and under its seccomp filter: all
 * inherited, nothing to install (the filter's install is the costliest
 * part of a spare: bench/filter_inherit.c). The old clone, not clone3:
 * the default filter refuses clone3 (seccomp_policy.c). Its pid reaches
 * the leader through the region; a clone that fails leaves it 0, and the
 * leader makes the next spare itself. */
SB_RAW_CHILD static void make_successor(const struct spare_vm *vm, int sock)
{
	struct spare_vm *s = vm->successor;
	if (s) {
		s->sock = sock;
		(void)sb_clone_run(CLONE_VM | CLONE_PARENT |
					   CLONE_PARENT_SETTID | SIGCHLD,
				   s, &s->pid, successor_main, s);
	}
	sb_raw1(SYS_close, sock);
}

/* Wait for the call, making the next spare first if asked, and run it. */
SB_RAW_CHILD __attribute__((noreturn)) static void
serve(const struct spare_vm *vm)
{
	int sock = vm->sock, fds[3] = {-1, -1, -1};
	char what = 0;

	for (;;) {
		long r = recv_msg(sock, &what, fds);
		if (r == 0)
			sb_raw1(SYS_exit_group, 0); /* retired, or no leader */
		if (r < 0)
			spare_child_fail(sock, r);
		if (what == MSG_CALL)
			break;
		make_successor(vm, fds[0]);
	}
	spare_child_exec(sock, fds, vm->cwd, vm->argv, vm->envp);
}

SB_RAW_CHILD static int child_main(void *arg)
{
	const struct spare_vm *vm = arg;
	int sock = vm->sock;
	long r;

	/* Without CLONE_INTO_CGROUP (cgroup v1, old kernels), a move, here
	 * before any call (calltree.h). */
	if (vm->join) {
		long fd = sb_raw4(SYS_openat, vm->dir_fd, vm->join_file,
				  O_WRONLY | O_CLOEXEC, 0);
		if (fd < 0)
			spare_child_fail(sock, fd);
		r = sb_raw3(SYS_write, fd, "0", 1);
		sb_raw1(SYS_close, fd);
		if (r != 1)
			spare_child_fail(sock, r);
	}
	spare_child_close_all_but(sock);
	if ((r = confine_child_raw(vm->uid, vm->filter)) < 0)
		spare_child_fail(sock, r);
	serve(vm);
}

/* A successor starts with its maker's descriptors: its maker's socket
 * goes, its own stays. */
SB_RAW_CHILD static int successor_main(void *arg)
{
	const struct spare_vm *vm = arg;
	spare_child_close_all_but(vm->sock);
	serve(vm);
}

/* ---- the leader ---- */

static char *region_base(struct spare_vm *vm)
{
	return (char *)vm + HEAD_SIZE - vm->size;
}

static struct spare_vm *region_get(void)
{
	struct spare_vm *vm = cached;
	if (vm) {
		cached = vm->next;
		n_cached--;
		return vm;
	}
	long pg = sysconf(_SC_PAGESIZE);
	size_t page = pg > 0 ? (size_t)pg : 4096u;
	size_t size = REGION_MIN > 4 * page ? REGION_MIN : 4 * page;
	char *base = mmap(NULL, size, PROT_READ | PROT_WRITE,
			  MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
	if (base == MAP_FAILED)
		return NULL;
	/* an overflow faults here instead of reaching another mapping */
	if (mprotect(base, page, PROT_NONE) < 0) {
		int err = errno;
		munmap(base, size);
		errno = err;
		return NULL;
	}
	vm = (struct spare_vm *)(base + size - HEAD_SIZE);
	vm->size = size;
	return vm;
}

static void drop_call(struct spare_vm *vm)
{
	sb_payload_free(&vm->p);
}

static void region_put(struct spare_vm *vm)
{
	drop_call(vm);
	if (vm->payload_cap > PAYLOAD_KEEP) {
		free(vm->payload);
		vm->payload = NULL;
		vm->payload_cap = 0;
	}
	if (n_cached < REGION_CACHE) {
		vm->next = cached;
		cached = vm;
		n_cached++;
		return;
	}
	free(vm->payload);
	munmap(region_base(vm), vm->size);
}

static long clone_child(struct spare_vm *vm, bool into)
{
	struct clone_args ca = {
		.flags = CLONE_VM | (into ? CLONE_INTO_CGROUP : 0),
		.exit_signal = SIGCHLD,
		.stack = (uint64_t)(uintptr_t)region_base(vm),
		.stack_size = vm->size - HEAD_SIZE,
		.cgroup = into ? (uint64_t)vm->dir_fd : 0,
	};
	vm->join = vm->dir_fd >= 0 && !into;
	return sb_clone3_run(&ca, sizeof ca, child_main, vm);
}

pid_t spare_vm_start(const struct spare_cfg *cfg, int sock, int dir_fd,
		     bool into, struct spare_vm **out)
{
	struct spare_vm *vm = region_get();
	if (!vm)
		return -1;
	*vm = (struct spare_vm){.sock = sock,
				.dir_fd = dir_fd,
				.join_file = calltree_self_file(cfg->cg_mode),
				.uid = cfg->uid,
				.filter = cfg->filter,
				.size = vm->size,
				.payload = vm->payload,
				.payload_cap = vm->payload_cap};
	long pid = clone_child(vm, into);
	/* no CLONE_INTO_CGROUP (before Linux 5.7): joins it instead */
	if (into && (pid == -EINVAL || pid == -E2BIG))
		pid = clone_child(vm, false);
	if (pid < 0) {
		if (pid == -ENOSYS)
			no_clone3 = true;
		region_put(vm);
		errno = (int)-pid;
		return -1;
	}
	vm->pid = (pid_t)pid;
	vm->next = live;
	live = vm;
	*out = vm;
	return vm->pid;
}

/* Room for len bytes of payload in the region's buffer, which serves the
 * next call too. */
static int payload_room(struct spare_vm *vm, size_t len)
{
	if (len > vm->payload_cap) {
		char *buf = realloc(vm->payload, len);
		if (!buf)
			return -1;
		vm->payload = buf;
		vm->payload_cap = len;
	}
	return 0;
}

/* The payload, read into the region's buffer: a pread is cheaper than a
 * mapping's mmap and munmap. An inline one is copied: the leader's buffer
 * takes its next message. */
static int read_payload(struct spare_vm *vm, const struct spare_call *call,
			size_t *len)
{
	if (call->payload_fd < 0) {
		*len = call->inline_len;
		if (*len == 0 || payload_room(vm, *len) < 0) {
			errno = *len ? errno : EPROTO;
			return -1;
		}
		memcpy(vm->payload, call->inline_payload, *len);
		return 0;
	}
	int fd = call->payload_fd;
	if (sb_payload_fd_len(fd, len) < 0 || payload_room(vm, *len) < 0)
		return -1;
	for (size_t got = 0; got < *len;) {
		/* pread: the daemon may share the memfd's offset */
		ssize_t n =
			pread(fd, vm->payload + got, *len - got, (off_t)got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			errno = n < 0 ? errno : EPROTO;
			return -1;
		}
		got += (size_t)n;
	}
	return 0;
}

int spare_vm_hand(struct spare_vm *vm, int sock, const struct spare_call *call)
{
	char byte = 'x';
	struct iovec iov = {.iov_base = &byte, .iov_len = 1};
	size_t len;

	drop_call(vm);
	if (read_payload(vm, call, &len) < 0 ||
	    sb_payload_decode(vm->payload, len, &vm->p) < 0)
		return -1;
	vm->argv = vm->p.argv;
	vm->envp = vm->p.envp;
	vm->cwd = vm->p.cwd;
	if (sb_send_with_fds(sock, &iov, 1, call->stdio, 3) == 1)
		return 0;
	int err = errno;
	drop_call(vm);
	errno = err;
	return -1;
}

int spare_vm_make_next(struct spare_vm *vm, int sock, struct spare_vm **out,
		       int *out_sock)
{
	struct spare_vm *s = region_get();
	char what = MSG_NEXT;
	struct iovec iov = {.iov_base = &what, .iov_len = 1};
	int sv[2], err;

	if (!s)
		return -1;
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0) {
		err = errno;
		region_put(s);
		errno = err;
		return -1;
	}
	*s = (struct spare_vm){.sock = -1,
			       .dir_fd = -1,
			       .uid = vm->uid,
			       .maker = vm->pid,
			       .size = s->size,
			       .payload = s->payload,
			       .payload_cap = s->payload_cap};
	/* live from now: the maker may clone onto it until it is reaped */
	s->next = live;
	live = s;
	vm->successor = s;
	if (sb_send_with_fds(sock, &iov, 1, &sv[1], 1) != 1) {
		err = errno;
		vm->successor = NULL;
		live = s->next;
		region_put(s);
		close(sv[0]);
		close(sv[1]);
		errno = err;
		return -1;
	}
	close(sv[1]);
	*out = s;
	*out_sock = sv[0];
	return 0;
}

pid_t spare_vm_born(const struct spare_vm *vm)
{
	return __atomic_load_n(&vm->pid, __ATOMIC_ACQUIRE);
}

/* A region goes when its spare was reaped, or when the maker of a
 * successor that was never born was: nothing can clone onto it then. */
void spare_vm_reaped(pid_t pid)
{
	for (struct spare_vm **p = &live; *p;) {
		struct spare_vm *vm = *p;
		pid_t born = spare_vm_born(vm);
		bool gone = born == pid || (vm->maker == pid && born == 0);
		if (vm->maker == pid)
			vm->maker = 0;
		if (!gone) {
			p = &vm->next;
			continue;
		}
		*p = vm->next;
		region_put(vm);
	}
}

#else /* no raw system calls here: every spare is forked */

bool spare_vm_usable(void)
{
	return false;
}

pid_t spare_vm_start(const struct spare_cfg *cfg, int sock, int dir_fd,
		     bool into, struct spare_vm **vm)
{
	(void)cfg, (void)sock, (void)dir_fd, (void)into, (void)vm;
	errno = ENOSYS;
	return -1;
}

int spare_vm_hand(struct spare_vm *vm, int sock, const struct spare_call *call)
{
	(void)vm, (void)sock, (void)call;
	errno = ENOSYS;
	return -1;
}

int spare_vm_make_next(struct spare_vm *vm, int sock, struct spare_vm **out,
		       int *out_sock)
{
	(void)vm, (void)sock, (void)out, (void)out_sock;
	errno = ENOSYS;
	return -1;
}

pid_t spare_vm_born(const struct spare_vm *vm)
{
	(void)vm;
	return 0;
}

void spare_vm_reaped(pid_t pid)
{
	(void)pid;
}

#endif
