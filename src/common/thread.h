/* SPDX-License-Identifier: Apache-2.0 */
/* thread.h - the daemon's worker threads (the cgroup stocker, the
 * launcher): started with every signal blocked, since the daemon's
 * signals are its loop's (libuv's signal handles), and a worker that took
 * one would leave the loop unaware of it. */
#ifndef SLOTBOX_COMMON_THREAD_H
#define SLOTBOX_COMMON_THREAD_H

#include <pthread.h>

/* pthread_create(t, NULL, fn, arg) with every signal blocked in the new
 * thread; the caller's mask is as before. 0 or the error number. */
int sb_thread_start(pthread_t *t, void *(*fn)(void *), void *arg);

#endif
