/* SPDX-License-Identifier: Apache-2.0 */
/* launcher.c - see launcher.h.
 *
 * The loop and the worker share the two lists below, under the mutex. A
 * sandbox on either list belongs to whoever holds it: the worker writes
 * its launch fields (sandbox_launch_run) between taking it from the todo
 * list and putting it on the done list; the loop reads them only after
 * taking it from the done list (the mutex orders the two), and until then
 * touches nothing the launch writes (sb->launching says so). */
#include "sandbox/launcher.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "sandbox/sandbox_internal.h"

struct sb_list {
	struct sandbox *head, *tail;
};

struct sbx_launcher {
	pthread_t thread;
	bool threaded; /* a worker runs; else launches run in submit */
	pthread_mutex_t mu;
	pthread_cond_t wake; /* a launch was queued, or stop */
	pthread_cond_t idle; /* a launch ended */
	struct sb_list todo; /* queued, not yet taken */
	struct sb_list done; /* launched, not yet reported on the loop */
	int running;	     /* taken by the worker, not yet done */
	bool stop;
	uv_async_t wakeup; /* the worker's "done" to the loop */
};

static void list_push(struct sb_list *l, struct sandbox *sb)
{
	sb->launch_next = NULL;
	if (l->tail)
		l->tail->launch_next = sb;
	else
		l->head = sb;
	l->tail = sb;
}

static struct sandbox *list_pop(struct sb_list *l)
{
	struct sandbox *sb = l->head;
	if (sb) {
		l->head = sb->launch_next;
		if (!l->head)
			l->tail = NULL;
		sb->launch_next = NULL;
	}
	return sb;
}

/* On the loop: report every finished launch. A report may queue another
 * launch (a failed start makes the pool try again), so the list is taken
 * whole first. */
static void report(struct sbx_launcher *l)
{
	pthread_mutex_lock(&l->mu);
	struct sb_list done = l->done;
	l->done.head = l->done.tail = NULL;
	pthread_mutex_unlock(&l->mu);
	for (struct sandbox *sb; (sb = list_pop(&done));)
		sandbox_launch_done(sb);
}

static void wakeup_cb(uv_async_t *h)
{
	report(h->data);
}

static void *worker(void *arg)
{
	struct sbx_launcher *l = arg;

	pthread_mutex_lock(&l->mu);
	for (;;) {
		while (!l->todo.head && !l->stop)
			pthread_cond_wait(&l->wake, &l->mu);
		struct sandbox *sb = list_pop(&l->todo);
		if (!sb)
			break; /* stopped with nothing left */
		l->running++;
		pthread_mutex_unlock(&l->mu);
		sandbox_launch_run(sb);
		pthread_mutex_lock(&l->mu);
		l->running--;
		list_push(&l->done, sb);
		pthread_cond_broadcast(&l->idle);
		uv_async_send(&l->wakeup);
	}
	pthread_mutex_unlock(&l->mu);
	return NULL;
}

static void launcher_free(struct sbx_launcher *l)
{
	pthread_cond_destroy(&l->idle);
	pthread_cond_destroy(&l->wake);
	pthread_mutex_destroy(&l->mu);
	free(l);
}

/* The launcher with its loop handle, and its worker if a thread can be
 * made (started with every signal blocked: the daemon's signals are its
 * loop's); NULL with errno when not even the handle could be made. */
static struct sbx_launcher *launcher_make(struct sbx_env *env)
{
	struct sbx_launcher *l = calloc(1, sizeof *l);
	if (!l)
		return NULL;
	pthread_mutex_init(&l->mu, NULL);
	pthread_cond_init(&l->wake, NULL);
	pthread_cond_init(&l->idle, NULL);
	int r = uv_async_init(env->loop, &l->wakeup, wakeup_cb);
	if (r < 0) {
		launcher_free(l);
		errno = -r;
		return NULL;
	}
	l->wakeup.data = l;
	sigset_t all, old;
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	int e = pthread_create(&l->thread, NULL, worker, l);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	l->threaded = e == 0;
	if (e != 0)
		sb_log(SB_LOG_WARN, "launcher_thread", "why", strerror(e),
		       SB_LOG_END);
	env->launcher = l;
	return l;
}

int launcher_submit(struct sbx_env *env, struct sandbox *sb)
{
	struct sbx_launcher *l = env->launcher;
	if (!l && !(l = launcher_make(env)))
		return -1;
	if (!l->threaded) {
		/* no worker: launched here, reported like the worker's */
		sandbox_launch_run(sb);
		pthread_mutex_lock(&l->mu);
		list_push(&l->done, sb);
		pthread_mutex_unlock(&l->mu);
		uv_async_send(&l->wakeup);
		return 0;
	}
	pthread_mutex_lock(&l->mu);
	list_push(&l->todo, sb);
	pthread_cond_signal(&l->wake);
	pthread_mutex_unlock(&l->mu);
	return 0;
}

void launcher_settle(struct sbx_env *env)
{
	struct sbx_launcher *l = env->launcher;
	if (!l)
		return;
	for (;;) {
		pthread_mutex_lock(&l->mu);
		while (l->todo.head || l->running)
			pthread_cond_wait(&l->idle, &l->mu);
		bool more = l->done.head != NULL;
		pthread_mutex_unlock(&l->mu);
		if (!more)
			return;
		report(l);
	}
}

static void closed_cb(uv_handle_t *h)
{
	launcher_free(h->data);
}

void launcher_stop(struct sbx_env *env)
{
	struct sbx_launcher *l = env->launcher;
	if (!l)
		return;
	launcher_settle(env);
	if (l->threaded) {
		pthread_mutex_lock(&l->mu);
		l->stop = true;
		pthread_cond_signal(&l->wake);
		pthread_mutex_unlock(&l->mu);
		pthread_join(l->thread, NULL);
	}
	env->launcher = NULL;
	uv_close((uv_handle_t *)&l->wakeup, closed_cb);
}
