/* scratch.c - the targets' scratch directory (fuzz.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/util.h"
#include "fuzz.h"

static char scratch[4096];

static void scratch_remove(void)
{
	if (scratch[0])
		sb_rm_rf(scratch);
}

const char *fuzz_scratch(const char *name)
{
	const char *base = getenv("TMPDIR");
	if (!base || !*base)
		base = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
	snprintf(scratch, sizeof scratch, "%s/slotbox-fuzz-%s-XXXXXX", base,
		 name);
	FUZZ_SETUP(mkdtemp(scratch) != NULL);
	FUZZ_SETUP(atexit(scratch_remove) == 0);
	return scratch;
}
