/* SPDX-License-Identifier: Apache-2.0 */
/* thread.c - see thread.h. */
#include "common/thread.h"

#include <signal.h>

int sb_thread_start(pthread_t *t, void *(*fn)(void *), void *arg)
{
	sigset_t all, old;
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	int e = pthread_create(t, NULL, fn, arg);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	return e;
}
