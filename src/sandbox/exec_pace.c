/* SPDX-License-Identifier: Apache-2.0 */
/* exec_pace.c - a slot's usual call duration (see exec_pace.h). */
#include "sandbox/exec_pace.h"

/* Durations past this count as this much: one long call (a build, a
 * sleep) must not keep the average above the cap for many calls. */
#define PACE_CLAMP_US (2u * EXEC_PACE_MAX_MS * 1000u)

void exec_pace_note(struct exec_pace *p, double seconds)
{
	uint32_t us = PACE_CLAMP_US;
	if (!(seconds >= 0)) /* NaN or negative: a clock step; ignore */
		return;
	if (seconds * 1e6 < (double)PACE_CLAMP_US)
		us = (uint32_t)(seconds * 1e6);
	if (p->avg_us == 0) {
		p->avg_us = us ? us : 1;
		return;
	}
	/* a quarter of the way to the new duration: a few calls move it */
	int64_t step = ((int64_t)us - (int64_t)p->avg_us) / 4;
	int64_t next = (int64_t)p->avg_us + step;
	p->avg_us = next > 0 ? (uint32_t)next : 1;
}

uint32_t exec_pace_watch_ms(const struct exec_pace *p)
{
	uint32_t ms = (2u * p->avg_us + 999u) / 1000u;
	if (ms < EXEC_PACE_MIN_MS)
		return EXEC_PACE_MIN_MS;
	return ms > EXEC_PACE_MAX_MS ? EXEC_PACE_MAX_MS : ms;
}
