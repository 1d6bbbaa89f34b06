/* SPDX-License-Identifier: Apache-2.0 */
/* scratch.c - the targets' scratch directory (fuzz.h). */
#include <dirent.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
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

static bool listed(const char *name, const char *const *names)
{
	for (; *names; names++)
		if (strcmp(name, *names) == 0)
			return true;
	return false;
}

void fuzz_check_outside(const char *top, const char *const *top_names,
			const char *outside)
{
	static const char *const outside_names[] = {"canary", NULL};
	struct stat st;
	char p[4400];
	snprintf(p, sizeof p, "%s/canary", outside);
	FUZZ_CHECK(stat(p, &st) == 0 && st.st_size == 6 && st.st_nlink == 1 &&
			   S_ISREG(st.st_mode),
		   "the canary in %s was changed", outside);
	const char *dirs[] = {top, outside};
	const char *const *allowed[] = {top_names, outside_names};
	for (int i = 0; i < 2; i++) {
		DIR *d = opendir(dirs[i]);
		const struct dirent *e;
		FUZZ_SETUP(d != NULL);
		while ((e = readdir(d)))
			FUZZ_CHECK(!strcmp(e->d_name, ".") ||
					   !strcmp(e->d_name, "..") ||
					   listed(e->d_name, allowed[i]),
				   "%s appeared in %s", e->d_name, dirs[i]);
		closedir(d);
	}
}
