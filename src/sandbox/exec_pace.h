/* SPDX-License-Identifier: Apache-2.0 */
/* exec_pace.h - how long a slot's calls usually take, and so how long a
 * call's output pipes may stay out of the daemon's loop.
 *
 * A call whose output is only kept (no stream, no terminal) is read once,
 * when the leader reports its exit; its pipes join the loop only if it
 * runs longer than the watch delay (exec.c). Watched from the start, their
 * hangup wakes the daemon once more per call, just before the exit report
 * does. A fixed 3 ms suited a machine where `bash -c true` takes 1.3 ms;
 * where process creation is slower (5-6 ms on a VM whose page faults trap
 * to the hypervisor) every call outlived it and paid the extra wakeup
 * (bench/exec_ab.py there: daemon CPU per call 392 -> 316 us with 20 ms).
 * So the delay follows the slot's own calls: twice their running average,
 * between EXEC_PACE_MIN_MS and EXEC_PACE_MAX_MS. The price is bounded: a
 * command that writes more than a pipe holds (64 KiB) before its watch
 * starts waits for it, at most the delay; exec.c counts a call whose output
 * the watch read as it came as one of no length, so a slot whose commands
 * print much soon waits the least (a 200 KiB output measured 33-36 ms
 * with 3 ms, 47-56 ms while such calls still raised the pace). Kept apart
 * from exec.c's pipes so that it is unit-tested without a sandbox. */
#ifndef SLOTBOX_SANDBOX_EXEC_PACE_H
#define SLOTBOX_SANDBOX_EXEC_PACE_H

#include <stdint.h>

#define EXEC_PACE_MIN_MS 3u
#define EXEC_PACE_MAX_MS 20u

struct exec_pace {
	uint32_t avg_us; /* running average of call durations; 0: none yet */
};

/* A call that ran seconds (from its send to its exit report). */
void exec_pace_note(struct exec_pace *p, double seconds);

/* How long the next call's pipes may stay out of the loop, in ms. */
uint32_t exec_pace_watch_ms(const struct exec_pace *p);

#endif
