/* SPDX-License-Identifier: Apache-2.0 */
/* metrics.h - counters and latency histograms for GET /metrics.
 *
 * One registry for the daemon (its loop is single-threaded), indexed by
 * profile. Gauges (sandboxes, slots, waiters) are read from the pools when
 * the page is rendered; what happens over time (calls, acquire waits,
 * sandbox starts) is counted here as it happens. */
#ifndef SLOTBOX_POOL_METRICS_H
#define SLOTBOX_POOL_METRICS_H

#include <stddef.h>
#include <stdint.h>

struct pools;

enum metrics_hist { MH_ACQUIRE_WAIT, MH_EXEC, MH_SANDBOX_START, MH_COUNT };

/* Size the registry for the daemon's profiles (call once, at start). */
int metrics_init(const struct pools *ps);

/* Record seconds in a histogram of profile (unknown profiles: ignored). */
void metrics_observe(enum metrics_hist h, const char *profile, double s);

/* One finished call: its tool and error_class ("none", "task", ...). */
void metrics_call(const char *profile, const char *tool,
		  const char *error_class, int truncated);

/* One acquire that ended without a slot (timeout, error). */
void metrics_acquire_failed(const char *profile, const char *code);

/* The Prometheus text page: owned, NUL-terminated; NULL if out of memory. */
char *metrics_render(const struct pools *ps, size_t *len);

#endif
