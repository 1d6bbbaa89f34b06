/* SPDX-License-Identifier: Apache-2.0 */
/* fuzz_image.c - a whole image import (src/image/import.c): the outer
 * archive, the OCI index or docker manifest, the config, the layers and
 * their digests, as `slotbox-image import` runs it.
 *
 * Input: one flag byte (bit 0: fix the outer tar's checksums, see
 * tarfix.h), then the archive to import. The store is a fresh directory
 * on the scratch tmpfs each time. Checks: an import either fails with a message
 * and leaves no image, or yields a ref whose layers all exist in the
 * store; nothing is written outside the store. */
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/util.h"
#include "fuzz.h"
#include "image/image.h"
#include "tarfix.h"

static char top[4096], store[4200], src[4200];

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	FUZZ_SETUP(realpath(fuzz_scratch("image"), top) != NULL);
	snprintf(store, sizeof store, "%s/store", top);
	snprintf(src, sizeof src, "%s/input.tar", top);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	uint8_t *tar = malloc(size);
	FUZZ_SETUP(tar != NULL);
	memcpy(tar, data + 1, size - 1);
	if (data[0] & 1)
		tar_fix_checksums(tar, size - 1);
	sb_rm_rf(store);
	int fd = open(src, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	FUZZ_SETUP(fd >= 0 && write(fd, tar, size - 1) == (ssize_t)(size - 1));
	close(fd);
	free(tar);
	json_t *info = NULL;
	struct sb_err err = {0};
	int rc = image_import(store, "fuzz:1", src, &info, &err);
	struct sb_image img;
	struct sb_err lerr;
	int lrc = image_load(store, "fuzz:1", &img, &lerr);
	if (getenv("FUZZ_DEBUG")) /* the verdict, for people */
		fprintf(stderr, "import: %s\n", rc == 0 ? "ok" : err.msg);
	if (rc < 0) {
		FUZZ_CHECK(err.msg[0], "failed without a message");
		FUZZ_CHECK(lrc < 0, "a failed import left an image");
	} else {
		FUZZ_CHECK(info && lrc == 0, "imported but not loadable: %s",
			   lerr.msg);
		FUZZ_CHECK(img.n_layers >= 1 &&
				   img.n_layers <= IMAGE_MAX_LAYERS,
			   "%zu layers", img.n_layers);
		for (size_t i = 0; i < img.n_layers; i++) {
			struct stat st;
			FUZZ_CHECK(lstat(img.layers[i], &st) == 0 &&
					   S_ISDIR(st.st_mode),
				   "layer %s missing", img.layers[i]);
		}
		image_free(&img);
	}
	json_decref(info);
	/* only the store and the input in the scratch directory */
	DIR *d = opendir(top);
	struct dirent *e;
	FUZZ_SETUP(d != NULL);
	while ((e = readdir(d)))
		FUZZ_CHECK(!strcmp(e->d_name, ".") ||
				   !strcmp(e->d_name, "..") ||
				   !strcmp(e->d_name, "store") ||
				   !strcmp(e->d_name, "input.tar"),
			   "%s appeared beside the store", e->d_name);
	closedir(d);
	return 0;
}
