/* SPDX-License-Identifier: Apache-2.0 */
/* slotbox-image - the image store's worker: imports, lists and removes
 * images. slotboxd runs it for the API (so that parsing an untrusted
 * archive happens in a process of its own); root may run it by hand.
 *
 *   slotbox-image --store DIR import NAME PATH
 *   slotbox-image --store DIR ls
 *   slotbox-image --store DIR rm NAME
 *
 * Prints one JSON document; exit 0, or 1 with {"error": {code, message}}. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "image/image.h"

static int fail(const struct sb_err *err)
{
	const char *code =
		err->sys_errno == ENOENT ? "not_found"
		: err->sys_errno == EINVAL || err->sys_errno == EPERM ||
				err->sys_errno == E2BIG
			? "bad_request"
		/* the store's disk is full: the API answers 507 */
		: err->sys_errno == ENOSPC || err->sys_errno == EDQUOT
			? "insufficient_storage"
			: "internal";
	json_t *doc = json_pack("{s:{s:s, s:s}}", "error", "code", code,
				"message", err->msg);
	json_dumpf(doc, stdout, JSON_COMPACT);
	putchar('\n');
	json_decref(doc);
	return 1;
}

static int usage(void)
{
	fputs("usage: slotbox-image --store DIR import NAME PATH | ls | rm "
	      "NAME\n",
	      stderr);
	return 2;
}

int main(int argc, char **argv)
{
	struct sb_err err = {0};
	json_t *out = NULL;
	if (argc < 4 || strcmp(argv[1], "--store") != 0)
		return usage();
	const char *store = argv[2], *cmd = argv[3];
	umask(022);
	if (strcmp(cmd, "import") == 0 && argc == 6) {
		if (image_import(store, argv[4], argv[5], &out, &err) < 0)
			return fail(&err);
	} else if (strcmp(cmd, "ls") == 0 && argc == 4) {
		out = json_pack("{s:o}", "images", image_list(store));
	} else if (strcmp(cmd, "rm") == 0 && argc == 5) {
		if (image_remove(store, argv[4], &err) < 0)
			return fail(&err);
		out = json_pack("{s:s}", "removed", argv[4]);
	} else {
		return usage();
	}
	json_dumpf(out, stdout, JSON_COMPACT);
	putchar('\n');
	json_decref(out);
	return 0;
}
