/* SPDX-License-Identifier: Apache-2.0 */
/* pool_errors.c - the API code and HTTP status of a lease that could not
 * be recorded (pool.h). Pure functions, in a file of their own so that
 * the fuzzers' world links these rather than a copy. */
#include <errno.h>
#include <string.h>

#include "pool/pool.h"

const char *pool_lease_error_code(int e)
{
	if (e == ENOSPC || e == EDQUOT)
		return "insufficient_storage";
	/* out of descriptors or memory for the record: passes, retry */
	if (e == EMFILE || e == ENFILE || e == ENOMEM)
		return "unavailable";
	return "internal";
}

int pool_error_status(const char *code)
{
	if (strcmp(code, "insufficient_storage") == 0)
		return 507;
	if (strcmp(code, "unavailable") == 0 ||
	    strcmp(code, "acquire_timeout") == 0)
		return 503;
	return 500;
}
