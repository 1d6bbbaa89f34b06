/* SPDX-License-Identifier: Apache-2.0 */
/* util.h - small helpers shared by the daemon's modules. */
#ifndef SLOTBOX_COMMON_UTIL_H
#define SLOTBOX_COMMON_UTIL_H

#include <dirent.h>
#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "common/err.h"

/* Seconds since the epoch / a monotonic origin, as doubles. */
double sb_now_wall(void);
double sb_now_mono(void);

/* n random bytes as 2n hex chars + NUL into out (size >= 2n+1). */
int sb_random_hex(char *out, size_t n);

/* A JSON string of bytes that may not be valid UTF-8: invalid sequences
 * become U+FFFD so the result always serialises. Sets *lossy if any byte
 * was replaced (may be NULL). */
json_t *sb_json_string_lossy(const char *s, size_t len, bool *lossy);

/* The longest environment variable name slotbox accepts anywhere (a
 * profile's env_vars, an image's Env, a request's env), in bytes. */
#define SB_ENV_NAME_MAX 255

/* Is s a name for an environment variable: 1 to SB_ENV_NAME_MAX of
 * A-Z a-z 0-9 _, not starting with a digit? */
bool sb_env_name_valid(const char *s);

/* Create path and its parents with mode; 0 or -1/errno. */
int sb_mkdir_p(const char *path, unsigned mode);

/* Remove a directory tree without following symlinks or crossing mounts;
 * 0 or -1/errno (of the last failure). */
int sb_rm_rf(const char *path);

/* A DIR stream over a dup of dirfd, from its first entry (a dup shares
 * the read position, so it is rewound). NULL with errno on failure;
 * closedir() it. */
DIR *sb_opendir_at(int dirfd);

/* Write all of buf to fd (a pipe or socket may take it in parts),
 * retrying on EINTR; 0, or -1 with errno. */
int sb_write_all(int fd, const void *buf, size_t len);

/* Read up to len - 1 bytes of a small file (one read) and NUL-terminate
 * them; the byte count, or -1 when it cannot be read or is empty. */
ssize_t sb_read_small(const char *path, char *buf, size_t len);

/* Is the open file fd private to root: owned by uid 0, with no group or
 * other permission bits (what secret and token files must be)? 0, or -1
 * with EPERM and err saying why (naming the owner and mode, never the
 * content). */
int sb_check_private_fd(int fd, struct sb_err *err);

/* The start time of process pid (clock ticks since boot, field 22 of
 * /proc/<pid>/stat): with the pid, it names one process for good. */
int sb_proc_start_time(pid_t pid, uint64_t *out);
/* pid is that process (its start time; 0: not known, any) and is not
 * exiting: false from the start of its exit, zombie included. */
bool sb_proc_running(pid_t pid, uint64_t start_time);
/* Is pid in a user namespace that does not map the host's root (its
 * uid_map does not start with "0 0")? false when unreadable. */
bool sb_proc_in_userns(pid_t pid);

/* In a child about to exec (or to become a sandbox's init): every signal
 * back to its default and none blocked. execve keeps ignored signals, and
 * a daemon started with nohup or `&` ignores HUP, INT or QUIT, which every
 * command of every slot would inherit (an INT trap, a pty's hangup would
 * never fire). Async-signal-safe; SIGKILL and SIGSTOP fail harmlessly. */
void sb_signals_to_default(void);

/* In a child about to exec (or to become a sandbox's init): /dev/null
 * (devnull) on fd 0, fds[i] on fd first + i for each of the n (-1: that
 * fd closed), and every fd from first + n up closed. Each source is first
 * copied above the targets, as a source may sit on a target an earlier
 * dup2 would overwrite (or on its own target, where dup2 would keep
 * close-on-exec). Async-signal-safe. 0, or -1 with errno. */
int sb_child_fds(int devnull, const int *fds, int n, int first);

#endif
