/* SPDX-License-Identifier: Apache-2.0 */
/* launcher.h - the slow kernel work of a sandbox's start and end, in a
 * thread of its own.
 *
 * A sandbox start makes the sandbox's cgroups (a mkdir and limit writes
 * per hierarchy and slot) and asks the init zygote for a clone, waiting
 * for its answer; on the daemon's loop that held up every request and
 * call for 1.7-2.8 ms a start on average, 15.7 ms at worst, with 500
 * sandboxes alive. A dead sandbox's groups are removed, which took 0.5 ms
 * to 200 ms each on the loop (docs/bench.md, "Growing pools and running
 * calls"). The loop now hands both to the launcher's worker and goes on:
 * a launch (sandbox_launch_run) is handed back (sandbox_launch_done, on
 * the loop) when its init runs or the start failed; a removal needs
 * nothing back. One job at a time (the zygote serves one request at a
 * time anyway), launches before removals, and after each removal a pause
 * as long as it took: a removal holds the kernel's cgroup_mutex, which
 * every clone into a cgroup also takes, and removals back to back kept a
 * running slot's calls waiting for seconds. */
#ifndef SLOTBOX_SANDBOX_LAUNCHER_H
#define SLOTBOX_SANDBOX_LAUNCHER_H

struct sbx_env;
struct sandbox;

/* Queue sb's launch; sandbox_launch_done(sb) follows on the loop. Without
 * a worker (no thread could be made) the launch runs here and its end is
 * still reported from the loop, on its next turn. 0, or -1 with errno
 * when nothing was queued (no loop handle could be made). */
int launcher_submit(struct sbx_env *env, struct sandbox *sb);

/* Remove the groups of a dead sandbox (cg_sandbox_remove) in the worker;
 * here when there is none. */
void launcher_remove_groups(struct sbx_env *env, const char *id, int n_slots);

/* At shutdown: wait for every job asked so far (launches and removals)
 * and report each on this (the loop's) thread before returning, so that
 * no sandbox is still being started when the pools stop or keep their
 * sandboxes, and no group is left to remove when the daemon's own go.
 * From then on removals run with no pause between them. */
void launcher_settle(struct sbx_env *env);

/* Settle, then stop and join the worker and close its loop handle;
 * nothing may be submitted after. Idempotent. */
void launcher_stop(struct sbx_env *env);

#endif
