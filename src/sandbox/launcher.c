/* SPDX-License-Identifier: Apache-2.0 */
/* launcher.c - see launcher.h.
 *
 * The loop and the worker share the two job lists below, under the
 * mutex. A sandbox being launched belongs to whoever holds its job: the
 * worker writes its launch fields (sandbox_launch_run) between taking the
 * job from the todo list and putting it on the done list; the loop reads
 * them only after taking it from the done list (the mutex orders the
 * two), and until then touches nothing the launch writes (sb->launching
 * says so). A removal's job holds a copy of what it needs: the sandbox
 * is freed when it is queued. */
#include "sandbox/launcher.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/log.h"
#include "common/thread.h"
#include "common/util.h"
#include "sandbox/sandbox_internal.h"

/* A launch (sb), or the removal of a dead sandbox's groups (sb NULL). */
struct launch_job {
	struct launch_job *next;
	struct sandbox *sb;
	int n_slots;
	char id[SBX_ID_MAX];
};

struct job_list {
	struct launch_job *head, *tail;
};

struct sbx_launcher {
	struct sbx_env *env;
	pthread_t thread;
	bool threaded; /* a worker runs; else jobs run where they are asked */
	pthread_mutex_t mu;
	pthread_cond_t wake;	  /* a job was queued, or stop */
	pthread_cond_t idle;	  /* a job ended */
	struct job_list todo;	  /* launches queued, not yet taken */
	struct job_list removals; /* removals queued: after any launch */
	struct job_list done; /* launches ended, not yet reported on the loop */
	int running;	      /* taken by the worker, not yet done */
	bool stop;
	bool hurry; /* settled once (a stop): no pause between removals */
	uv_async_t wakeup; /* the worker's "done" to the loop */
};

static void list_push(struct job_list *l, struct launch_job *j)
{
	j->next = NULL;
	if (l->tail)
		l->tail->next = j;
	else
		l->head = j;
	l->tail = j;
}

static struct launch_job *list_pop(struct job_list *l)
{
	struct launch_job *j = l->head;
	if (j) {
		l->head = j->next;
		if (!l->head)
			l->tail = NULL;
	}
	return j;
}

/* On the loop: report every launch that ended. A report may queue
 * another job (a failed start makes the pool try again), so the list is
 * taken whole first. */
static void report(struct sbx_launcher *l)
{
	pthread_mutex_lock(&l->mu);
	struct job_list done = l->done;
	l->done.head = l->done.tail = NULL;
	pthread_mutex_unlock(&l->mu);
	for (struct launch_job *j; (j = list_pop(&done));) {
		struct sandbox *sb = j->sb;
		free(j);
		sandbox_launch_done(sb);
	}
}

static void wakeup_cb(uv_async_t *h)
{
	report(h->data);
}

/* Remove a dead sandbox's groups: its processes are killed first where
 * any are left (cgroup.c). A v1 memory group's rmdir takes milliseconds
 * on a host with thousands of them, 200 ms at worst seen. */
static void remove_groups(struct sbx_env *env, const char *id, int n_slots)
{
	if (cg_sandbox_remove(&env->cg, id, n_slots) < 0)
		sb_log(SB_LOG_WARN, "cgroup_remove_failed", "sandbox", id,
		       "why", strerror(errno), SB_LOG_END);
}

/* After a removal, the worker pauses as long as it took (up to
 * PACE_MAX_NS) before the next one. A group's removal holds the kernel's
 * cgroup_mutex, which every clone into a cgroup and every move into one
 * also takes: with the pool's retired sandboxes removed back to back, a
 * running slot's next call waited 0.6-3.8 s for it (offcpu stacks in
 * cgroup_can_fork, docs/bench.md). */
#define PACE_MAX_NS 20000000L

static void pace(long took_ns)
{
	struct timespec ts = {.tv_nsec = took_ns < PACE_MAX_NS ? took_ns
							       : PACE_MAX_NS};
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

static void *worker(void *arg)
{
	struct sbx_launcher *l = arg;

	pthread_mutex_lock(&l->mu);
	for (;;) {
		while (!l->todo.head && !l->removals.head && !l->stop)
			pthread_cond_wait(&l->wake, &l->mu);
		/* a start waits for no removal */
		struct launch_job *j = list_pop(&l->todo);
		if (!j)
			j = list_pop(&l->removals);
		if (!j)
			break; /* stopped with nothing left */
		l->running++;
		pthread_mutex_unlock(&l->mu);
		long took = 0; /* a removal's */
		if (j->sb) {
			sandbox_launch_run(j->sb);
		} else {
			double t0 = sb_now_mono();
			remove_groups(l->env, j->id, j->n_slots);
			took = (long)((sb_now_mono() - t0) * 1e9);
			free(j);
			j = NULL;
		}
		pthread_mutex_lock(&l->mu);
		l->running--;
		if (j) {
			list_push(&l->done, j);
			uv_async_send(&l->wakeup);
		}
		pthread_cond_broadcast(&l->idle);
		if (took > 0 && !l->hurry) {
			pthread_mutex_unlock(&l->mu);
			pace(took);
			pthread_mutex_lock(&l->mu);
		}
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
 * made; NULL with errno when not even the handle could be made. */
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
	l->env = env;
	int e = sb_thread_start(&l->thread, worker, l);
	l->threaded = e == 0;
	if (e != 0)
		sb_log(SB_LOG_WARN, "launcher_thread", "why", strerror(e),
		       SB_LOG_END);
	env->launcher = l;
	return l;
}

/* Hand j to the worker on one of its queues. */
static void enqueue(struct sbx_launcher *l, struct job_list *queue,
		    struct launch_job *j)
{
	pthread_mutex_lock(&l->mu);
	list_push(queue, j);
	pthread_cond_signal(&l->wake);
	pthread_mutex_unlock(&l->mu);
}

int launcher_submit(struct sbx_env *env, struct sandbox *sb)
{
	struct sbx_launcher *l = env->launcher;
	if (!l && !(l = launcher_make(env)))
		return -1;
	struct launch_job *j = calloc(1, sizeof *j);
	if (!j)
		return -1;
	j->sb = sb;
	if (!l->threaded) {
		/* no worker: launched here, reported like the worker's */
		sandbox_launch_run(sb);
		pthread_mutex_lock(&l->mu);
		list_push(&l->done, j);
		pthread_mutex_unlock(&l->mu);
		uv_async_send(&l->wakeup);
		return 0;
	}
	enqueue(l, &l->todo, j);
	return 0;
}

void launcher_remove_groups(struct sbx_env *env, const char *id, int n_slots)
{
	struct sbx_launcher *l = env->launcher;
	struct launch_job *j = l && l->threaded ? calloc(1, sizeof *j) : NULL;
	if (!j) {
		remove_groups(env, id, n_slots); /* here, as before */
		return;
	}
	snprintf(j->id, sizeof j->id, "%s", id);
	j->n_slots = n_slots;
	enqueue(l, &l->removals, j);
}

void launcher_settle(struct sbx_env *env)
{
	struct sbx_launcher *l = env->launcher;
	if (!l)
		return;
	for (;;) {
		pthread_mutex_lock(&l->mu);
		/* a settle is a stop: removals run back to back from now */
		l->hurry = true;
		while (l->todo.head || l->removals.head || l->running)
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
