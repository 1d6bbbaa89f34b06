/* SPDX-License-Identifier: Apache-2.0 */
/* tap.c - see tap.h. */
#include "tap.h"

#include <stdarg.h>
#include <stdio.h>

static int n_test, n_failed;

void ok(bool cond, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	printf("%sok %d - ", cond ? "" : "not ", ++n_test);
	vprintf(fmt, ap);
	putchar('\n');
	va_end(ap);
	fflush(stdout);
	if (!cond)
		n_failed++;
}

int tap_done(void)
{
	printf("1..%d\n", n_test);
	return n_failed ? 1 : 0;
}
