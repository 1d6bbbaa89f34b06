/* SPDX-License-Identifier: Apache-2.0 */
/* tap.h - the TAP output of the C programs the e2e suite runs. */
#ifndef SLOTBOX_TESTS_TAP_H
#define SLOTBOX_TESTS_TAP_H

#include <stdbool.h>

/* Print "ok N - ..." or "not ok N - ..." and count. */
void ok(bool cond, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Print the plan; the exit status: 0 when every check passed. */
int tap_done(void);

#endif
