/* SPDX-License-Identifier: Apache-2.0 */
/* membudget.h - how much memory the daemon may spend on call output.
 *
 * Each call's output is buffered up to the profile's output limit, and its
 * answer (the output JSON-encoded, twice: `output` and `metadata.stdout`)
 * waits in memory until the client reads it. Many calls printing at once
 * could need more than the daemon has: in a memory cgroup that ends with
 * the OOM killer taking the daemon. Output buffers grow only while what
 * they and the answers being written hold stays within a daemon-wide
 * budget, a quarter of the daemon's memory cgroup limit (re-read at most
 * once a second; none without a limit); past it a call's output is cut
 * and reported `truncated`, as past its own limit. A buffered byte counts
 * SB_MEMBUDGET_ANSWER_FACTOR times: what it may cost in its answer. */

/* A byte of output in an answer: up to 6 bytes JSON-escaped ("\u0000"),
 * in `output` and again in `metadata`. */
#define SB_MEMBUDGET_ANSWER_FACTOR 12u
#ifndef SLOTBOX_COMMON_MEMBUDGET_H
#define SLOTBOX_COMMON_MEMBUDGET_H

#include <stdbool.h>
#include <stddef.h>

/* Take n bytes for an output buffer; false (nothing taken) when the
 * budget is spent. */
bool sb_membudget_take(size_t n);
/* Count n bytes that must be spent anyway (an answer being written). */
void sb_membudget_charge(size_t n);
/* Give back n bytes taken or charged before. */
void sb_membudget_give(size_t n);

#endif
