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
	/* the leader's own */
	struct spare_vm *next; /* live (until reaped) or cached */
	pid_t pid;
	size_t size;
	char *payload; /* its call's payload, read here (kept for the next) */
	size_t payload_cap;
	struct sb_payload p;
};

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

/* The call: one byte with stdin, stdout and stderr. 1, 0 when the
 * leader closed its end (retired), or -errno. */
SB_RAW_CHILD static long recv_call(int sock, int fds[3])
{
	char byte;
	struct iovec iov;
	union {
		struct cmsghdr h;
		char buf[CMSG_SPACE(3 * sizeof(int))];
	} u;
	struct msghdr mh;
	long n;

	iov.iov_base = &byte;
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
	if (!c || (mh.msg_flags & MSG_CTRUNC) || c->cmsg_level != SOL_SOCKET ||
	    c->cmsg_type != SCM_RIGHTS ||
	    c->cmsg_len != CMSG_LEN(3 * sizeof(int)))
		return -EPROTO;
	__builtin_memcpy(fds, CMSG_DATA(c), 3 * sizeof(int));
	return 1;
}

SB_RAW_CHILD static int child_main(void *arg)
{
	const struct spare_vm *vm = arg;
	int sock = vm->sock, fds[3] = {-1, -1, -1};
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
	r = recv_call(sock, fds);
	if (r == 0)
		sb_raw1(SYS_exit_group, 0); /* retired, or the leader is gone */
	if (r < 0)
		spare_child_fail(sock, r);
	spare_child_exec(sock, fds, vm->cwd, vm->argv, vm->envp);
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

void spare_vm_reaped(pid_t pid)
{
	for (struct spare_vm **p = &live; *p; p = &(*p)->next) {
		if ((*p)->pid == pid) {
			struct spare_vm *vm = *p;
			*p = vm->next;
			region_put(vm);
			return;
		}
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

void spare_vm_reaped(pid_t pid)
{
	(void)pid;
}

#endif
