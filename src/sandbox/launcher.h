/* SPDX-License-Identifier: Apache-2.0 */
/* launcher.h - the slow half of a sandbox start, in a thread of its own.
 *
 * A sandbox start makes the sandbox's cgroups (a mkdir and limit writes
 * per hierarchy and slot) and asks the init zygote for a clone, waiting
 * for its answer. On the daemon's loop that held up every request and
 * call for 1.7-2.8 ms a start on average, 15.7 ms at worst, with 500
 * sandboxes alive (docs/bench.md, "Growing pools and running calls"): every
 * trajectory's tool calls stalled while a pool grew. The loop now hands
 * that half to the launcher's worker (sandbox_launch_run) and goes on;
 * the worker hands the sandbox back (sandbox_launch_done, on the loop)
 * when its init runs or the start failed. Starts run one at a time, in
 * the order asked: the zygote serves one request at a time anyway. */
#ifndef SLOTBOX_SANDBOX_LAUNCHER_H
#define SLOTBOX_SANDBOX_LAUNCHER_H

struct sbx_env;
struct sandbox;

/* Queue sb's launch; sandbox_launch_done(sb) follows on the loop. Without
 * a worker (no thread could be made) the launch runs here and its end is
 * still reported from the loop, on its next turn. 0, or -1 with errno
 * when nothing was queued (no loop handle could be made). */
int launcher_submit(struct sbx_env *env, struct sandbox *sb);

/* Wait for every launch asked so far and report each on this (the loop's)
 * thread before returning: at shutdown, so that no sandbox is still being
 * started when the pools stop or keep their sandboxes. */
void launcher_settle(struct sbx_env *env);

/* Settle, then stop and join the worker and close its loop handle;
 * nothing may be submitted after. Idempotent. */
void launcher_stop(struct sbx_env *env);

#endif
