/* SPDX-License-Identifier: Apache-2.0 */
/* leader_pty.c - terminals for calls and processes with a pty (API 1.1).
 *
 * The leader lives in the slot's root (pivoted), so /dev/pts/ptmx is the
 * slot's own devpts instance (mounts.c, with its max=): a terminal opened
 * here counts against the slot and is named in the slot's /dev/pts. The
 * daemon keeps the master (output, stdin, resize); the slave becomes the
 * call's stdin, stdout and stderr, and its controlling terminal (spare.c).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/ioctl.h>
#include <termios.h>
#include <unistd.h>

#include "init/init.h"
#include "wire/proto.h"

#ifndef TIOCGPTPEER
#define TIOCGPTPEER _IO('T', 0x41)
#endif

/* The slave without a path lookup where the kernel can (TIOCGPTPEER,
 * Linux 4.13), else through its name in our devpts. */
static int open_slave(int master)
{
	int fd = ioctl(master, TIOCGPTPEER, O_RDWR | O_NOCTTY | O_CLOEXEC);
	if (fd >= 0 || (errno != EINVAL && errno != ENOTTY))
		return fd;
	char name[64];
	if (ptsname_r(master, name, sizeof name) != 0)
		return -1;
	return open(name, O_RDWR | O_NOCTTY | O_CLOEXEC);
}

void leader_pty_open(int chan, int index, uid_t uid, const struct sb_msg *m)
{
	struct sb_msg r = {
		.type = SB_MSG_PTY, .slot = (uint32_t)index, .id = m->id};
	struct winsize ws = {
		.ws_row = (unsigned short)((uint32_t)m->status >> 16),
		.ws_col = (unsigned short)(m->status & 0xffff)};
	int unlock = 0, slave = -1;
	int master = open("/dev/pts/ptmx", O_RDWR | O_NOCTTY | O_CLOEXEC);
	if (master < 0 || ioctl(master, TIOCSPTLCK, &unlock) < 0 ||
	    ioctl(master, TIOCSWINSZ, &ws) < 0 ||
	    (slave = open_slave(master)) < 0 ||
	    /* the slot's user may reopen it by name (/dev/tty, ttyname) */
	    fchown(slave, uid, (gid_t)-1) < 0) {
		r.sys_errno = errno ? errno : EIO;
		if (chan >= 0)
			sb_msg_send(chan, &r, NULL, 0);
	} else if (chan >= 0) {
		int fds[2] = {master, slave};
		sb_msg_send(chan, &r, fds, 2);
	}
	if (master >= 0)
		close(master);
	if (slave >= 0)
		close(slave);
}
